"""The local Kafka's properties files: a controller and a broker, each a process of its own on
loopback, and a SASL_SSL listener (SCRAM-SHA-512, PEM keystore) when the broker has SCRAM users.

Two processes, not one combined broker+controller, so that a broker killed with SIGKILL comes
back as a real cluster's broker does: the controller outlives it and fences it, and the new
broker process takes its partitions back only once it is registered anew. A combined node that
restarts replays its own old registration and leads its partitions for the 9 s until that
session expires, then fences itself: the transaction coordinator, which could not send a
committed transaction's markers to its own (still closed) listener meanwhile, then skips them
("Couldn't find leader endpoint ... these partitions are likely deleted already"), leaving the
transaction committed on some partitions and not on others. Chaos runs read decisions twice
that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BROKER_ID, CONTROLLER_ID = 1, 2
# Formatted without eligible leader replicas (KIP-966, on by default since Kafka 4.1): with them
# a kill -9 takes the only replica out of the ISR and it comes back by an unclean election, at
# the high watermark of its last checkpoint (up to 5 s old), so what it had acknowledged stays
# unreadable until the partition's next write (test_broker_smoke.py read 0 of 30 records of a
# transaction committed just before the kill). Without them it stays in the ISR and is elected
# cleanly, as a lone replica was before Kafka 4.
ELR_VERSION = 0

_COMMON = """\
controller.quorum.voters={controller_id}@127.0.0.1:{cport}
controller.listener.names=CONTROLLER
log.dirs={data}
"""

CONTROLLER_TEMPLATE = """\
# The local Kafka's controller, written by consumer.local.kafka on every start.
process.roles=controller
node.id={controller_id}
# A static voter set: unlike --standalone (KIP-853) it puts no controller port in the metadata
# log, so a kept work dir may come back on other ports.
listeners=CONTROLLER://127.0.0.1:{cport}
listener.security.protocol.map=CONTROLLER:PLAINTEXT
# A killed broker is fenced this long after its last heartbeat (9 s by default): its restart
# waits for that, so a shorter session makes a hard restart quicker.
broker.session.timeout.ms=4000
"""

BROKER_TEMPLATE = """\
# The local Kafka's broker, written by consumer.local.kafka on every start.
process.roles=broker
node.id={broker_id}
listeners=PLAINTEXT://127.0.0.1:{port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
broker.heartbeat.interval.ms=500
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# 50 by default, all created by the first transactional producer: slow on a small machine.
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly: an unknown topic must be an error, not a new topic.
auto.create.topics.enable=false
"""


@dataclass(frozen=True)
class Listeners:
    port: int  # PLAINTEXT, for clients
    controller_port: int
    sasl_port: int = 0  # 0: no SASL_SSL listener
    keystore: Path | None = None  # the SASL_SSL listener's PEM certificate and key


def controller_properties(listeners: Listeners, data: Path, extra: Mapping[str, str]) -> str:
    """The controller's properties file; `extra` entries (an authorizer, say: ACLs are kept by
    the controller) are appended to (and override) the rest."""
    return _properties(CONTROLLER_TEMPLATE, listeners, data, dict(extra))


def broker_properties(listeners: Listeners, data: Path, extra: Mapping[str, str]) -> str:
    """The broker's properties file; `extra` entries are appended to (and override) the rest."""
    return _properties(BROKER_TEMPLATE, listeners, data, _sasl_ssl(listeners) | dict(extra))


def _properties(
    template: str, listeners: Listeners, data: Path, overrides: Mapping[str, str]
) -> str:
    fields = {
        "broker_id": BROKER_ID,
        "controller_id": CONTROLLER_ID,
        "port": listeners.port,
        "cport": listeners.controller_port,
        "data": data,
    }
    text = template.format(**fields) + _COMMON.format(**fields)
    return text + "".join(f"{key}={value}\n" for key, value in overrides.items())


def _sasl_ssl(listeners: Listeners) -> dict[str, str]:
    """The SASL_SSL listener (later keys override the template's listener lines); the broker
    keeps talking PLAINTEXT to itself and to the controller."""
    if not listeners.sasl_port:
        return {}
    plain, sasl = f"127.0.0.1:{listeners.port}", f"127.0.0.1:{listeners.sasl_port}"
    return {
        "listeners": f"PLAINTEXT://{plain},SASL_SSL://{sasl}",
        "advertised.listeners": f"PLAINTEXT://{plain},SASL_SSL://{sasl}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(listeners.keystore),
    }
