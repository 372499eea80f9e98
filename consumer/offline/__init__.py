"""Offline, without Kafka: `validate` (JSON Lines or Avro files in, decisions out) and
`explain` (the same, for a person)."""
