//! Claims in and decisions out: Avro (our schema, zero-copy), the JSON form, and the decision.

pub mod avro;
pub mod decision;
pub mod json;
