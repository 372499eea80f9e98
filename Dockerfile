# syntax=docker/dockerfile:1
# infusion-validator: `docker build -t infusion-validator .` from the repository root.
#
# Stage 1 builds the wheel and installs it with its dependencies into /opt/venv; stage 2 copies
# only that venv, the rule set and the Avro schemas onto a clean python:3.11-slim and runs as
# uid 10001 (the Helm chart's runAsUser). The wheel holds the compiled hot path
# (native/, Rust, built by maturin), so the build stage has a Rust toolchain; every runtime
# dependency (confluent-kafka with its bundled librdkafka, fastavro, orjson, pydantic-core)
# ships manylinux wheels, and the runtime image needs no compiler.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN apt-get update \
 && apt-get install --yes --no-install-recommends curl ca-certificates gcc libc6-dev \
 && curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH
COPY pyproject.toml README.md ./
COPY native/ native/
COPY consumer/ consumer/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="infusion-validator" \
      org.opencontainers.image.description="Decides home infusion claims from Kafka against policy RB.046.A" \
      org.opencontainers.image.version="${VERSION}"

RUN groupadd --system --gid 10001 validator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin validator

# Same path as in the build stage: the venv's scripts have it in their shebang lines.
COPY --from=build /opt/venv /opt/venv
# The Avro schemas are not in the wheel; consumer/schemas.py looks for them in schemas/avro/
# beside the package, i.e. in site-packages.
COPY schemas/avro/ /opt/venv/lib/python3.11/site-packages/schemas/avro/
# The default rule set (the chart mounts its own ConfigMap and points INFUSION_VALIDATOR_RULES
# there instead).
COPY rules/ /etc/infusion-validator/rules-default/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INFUSION_VALIDATOR_RULES=/etc/infusion-validator/rules-default

# Fail the build, not the first pod, if the rule set or the schemas cannot be loaded.
RUN infusion-validator rules check \
 && python -c "from consumer.schemas import claim_schema, decision_schema; claim_schema(); decision_schema()"

USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["infusion-validator"]
CMD ["run"]
