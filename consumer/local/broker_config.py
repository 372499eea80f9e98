"""The local broker's `server.properties`: one combined broker+controller on loopback, and a
SASL_SSL listener (SCRAM-SHA-512, PEM keystore) when the broker has SCRAM users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = """\
# One combined broker+controller on loopback, written by consumer.local.kafka on every start.
process.roles=broker,controller
node.id=1
# A static voter set: unlike --standalone (KIP-853) it puts no controller port in the metadata
# log, so a kept work dir may come back on other ports.
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
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


def server_properties(listeners: Listeners, data: Path, extra: Mapping[str, str]) -> str:
    """The properties file; `extra` entries are appended to (and override) the rest."""
    text = TEMPLATE.format(port=listeners.port, cport=listeners.controller_port, data=data)
    return text + "".join(
        f"{key}={value}\n" for key, value in (_sasl_ssl(listeners) | dict(extra)).items()
    )


def _sasl_ssl(listeners: Listeners) -> dict[str, str]:
    """The SASL_SSL listener (later keys override the template's listener lines); brokers
    and the controller keep talking PLAINTEXT among themselves."""
    if not listeners.sasl_port:
        return {}
    plain, sasl = f"127.0.0.1:{listeners.port}", f"127.0.0.1:{listeners.sasl_port}"
    return {
        "listeners": f"PLAINTEXT://{plain},CONTROLLER://127.0.0.1:{listeners.controller_port},"
        f"SASL_SSL://{sasl}",
        "advertised.listeners": f"PLAINTEXT://{plain},SASL_SSL://{sasl}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(listeners.keystore),
    }
