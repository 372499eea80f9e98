"""The records: the Avro schemas (`schemas/avro/`), the JSON form of claims and decisions
(SPEC §2.1), and the code generator the JSON form is built with."""
