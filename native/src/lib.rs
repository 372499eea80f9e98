//! The decision engine of infusion-validator, compiled: the RB.046.A rules (`rules/`), the
//! rule sets they read (`ruleset/`), and the claim and decision codecs (`codec/`).
//!
//! This is the one implementation of the rules. Python sees it through the typed facade in
//! `consumer/engine/` (`consumer._native` is built from `py/`), which loads and validates the
//! rule files, and calls it for every decision: the stream, replay and `--diff`, offline
//! `validate` and `explain`. The golden cases in `tests/data/golden/` are run against it by
//! `cargo test` (`tests/golden.rs`) and by pytest alike.

pub mod claim;
pub mod codec;
pub mod compare;
pub mod engine;
pub mod history;
pub mod rules;
pub mod ruleset;
pub mod text;

#[cfg(feature = "python")]
mod py;

// The engine allocates for every claim (its lines, a member's history decoded and encoded
// again, the changelog values); in the service glibc's malloc, shared with CPython and
// librdkafka's threads, took ~22 % of the loop's thread with the history on (perf, bench
// 5-line claims: _int_malloc and unlink_chunk). mimalloc keeps the engine's allocations apart.
#[cfg(feature = "python")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
