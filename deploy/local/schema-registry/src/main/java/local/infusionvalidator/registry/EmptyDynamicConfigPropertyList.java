package local.infusionvalidator.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/**
 * Stands in for the bean the apicurio-common-app-components-config-index Quarkus extension
 * generates at build time (that extension's -deployment half is not on Maven Central). With an
 * empty list no property is "dynamic": every setting keeps the value it had at start-up, which
 * is all a throw-away test registry needs.
 */
public class EmptyDynamicConfigPropertyList {
    @Produces
    @Singleton
    DynamicConfigPropertyList dynamicConfigPropertyList() {
        return new DynamicConfigPropertyList(List.of());
    }
}
