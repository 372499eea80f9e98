"""Bytes to records and back: the wire formats (`raw`, `confluent` with a schema registry), the
Python decoder for what the engine cannot read in place, and claim encoding. One `Wire` per
process (`consumer.codec.wire`)."""
