"""One exception root for the product; each concern raises its own typed leaf.

Errors are for situations the caller must handle differently from a normal result: a claim that
breaks a billing rule is *not* an error (it is a PENDED decision); a record that cannot be
decoded is (it goes to the dead-letter topic).
"""

from __future__ import annotations


class InfusionValidatorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(InfusionValidatorError):
    """Settings are missing or inconsistent; start-up must stop with this one-line message."""


class RuleSetError(InfusionValidatorError):
    """A rule-set or code-catalogue file is unreadable or invalid."""


class SchemaError(InfusionValidatorError):
    """An Avro schema file is missing or does not parse."""


class ClaimFormatError(InfusionValidatorError):
    """A claim in JSON form is malformed: missing field, wrong type, bad date or decimal."""


class DecodeError(InfusionValidatorError):
    """A Kafka record cannot be turned into a claim; it belongs in the dead-letter topic.

    `error_class` is a short, bounded identifier (used as a metric label and DLQ header).
    """

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


class KafkaSetupError(InfusionValidatorError):
    """The broker cannot be reached, a topic is missing, or credentials are refused."""


class LocalSetupError(InfusionValidatorError):
    """A local stand-in for a production component (the schema registry, a Kubernetes API
    server) cannot be built, found or started; the message says which and why."""
