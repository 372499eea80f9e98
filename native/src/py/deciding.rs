//! Deciding a batch of records without the GIL: the parts of a `StreamDecider` that deciding
//! reads and changes, borrowed apart from its Python objects (`Deciding`), and the records
//! as read from their messages beforehand (`Input`). `StreamDecider.process` reads the
//! messages with the GIL, decides them here without it, and builds the results with it again
//! (docs/decisions/0005).

use std::ops::Range;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::history::History;
use super::shadow::{self, Shadow};
use super::tally::Tally;
use crate::claim::Claim;
use crate::codec::avro;
use crate::codec::decision::{write_avro_head, Source};
use crate::engine::Lines;
use crate::history::{decide_recorded, MemberHistory};
use crate::ruleset::RuleSets;

/// A record as the engine reads it: the claim's Avro body and where the record was read.
pub struct Input<'a> {
    pub body: &'a [u8],
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// What deciding made of a record.
pub enum Made<'r> {
    /// A re-sent event: no decision is written.
    Resent,
    /// A decision: PENDED or not, the head of its value (a range of `heads`), and the version
    /// of the rule set that decided it.
    Decided {
        pended: bool,
        head: Range<usize>,
        version: &'r str,
    },
}

/// A message's partition and offset (0 where it has none).
pub fn coordinates(py: Python<'_>, msg: &Bound<'_, PyAny>) -> PyResult<(i32, i64)> {
    let partition = msg.call_method0(intern!(py, "partition"))?;
    let offset = msg.call_method0(intern!(py, "offset"))?;
    Ok((
        partition.extract::<Option<i32>>()?.unwrap_or(0),
        offset.extract::<Option<i64>>()?.unwrap_or(0),
    ))
}

/// A message's topic ("" where it has none).
pub fn topic_name<'a>(topic: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    topic
        .cast::<PyString>()
        .ok()
        .map_or(Ok(""), |name| name.to_str())
}

/// The parts of a `StreamDecider` that deciding reads and changes, with the member history:
/// no Python object among them, so a batch is decided without the GIL.
pub struct Deciding<'s, 'r> {
    pub rules: &'r RuleSets,
    pub shadow_rules: Option<&'r RuleSets>,
    pub validator_version: &'s str,
    pub max_lines: usize,
    /// Each target's wire-format prefix: [ACCEPTED, PENDED].
    pub prefixes: [&'s [u8]; 2],
    pub tally: &'s mut Tally,
    pub history: Option<&'s mut History>,
    pub shadow: Option<&'s mut Shadow>,
    /// The heads of the values decided, one after the other (reused from call to call).
    pub heads: &'s mut Vec<u8>,
    /// Where the shadow rule set disagrees: (the input's index, the shadow record's value).
    pub shadowed: Vec<(usize, Vec<u8>)>,
}

/// The live and the shadow rule sets.
pub type Rules = (Arc<RuleSets>, Option<Arc<RuleSets>>);

impl<'r> Deciding<'_, 'r> {
    /// Decide `inputs` in order, up to the first one that is not a claim this path decides
    /// (Python's decoder takes it): what each was made into. The shadow records are left in
    /// `shadowed`.
    pub fn run(&mut self, inputs: &[Input]) -> PyResult<Vec<Made<'r>>> {
        self.heads.clear();
        let mut made = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.iter().enumerate() {
            let started = Instant::now();
            let Some(claim) = avro::read_claim(input.body) else {
                break;
            };
            // The structural limits the decoder applies (else it dead-letters the record).
            if claim.lines.is_empty() || claim.lines.len() > self.max_lines {
                break;
            }
            made.push(self.decide(index, input, &claim)?);
            self.tally.observe(started.elapsed().as_secs_f64());
        }
        Ok(made)
    }

    pub fn decide(&mut self, index: usize, input: &Input, claim: &Claim) -> PyResult<Made<'r>> {
        let rules = self.rules;
        let shadow_rules = self.shadow_rules;
        let both = |past: Option<&MemberHistory>| {
            let mut lines = Lines::default();
            let live = rules.decide_with(claim, past, &mut lines, true);
            let candidate = shadow_rules.map(|s| shadow::decide(s, claim, past, &live, &mut lines));
            (live, candidate)
        };
        let decided = match self.history.as_deref_mut() {
            Some(history) => decide_recorded(Some(history.store(input.partition)?), claim, both),
            None => Some(both(None)),
        };
        let Some((outcome, candidate)) = decided else {
            self.tally.resent += 1;
            return Ok(Made::Resent);
        };
        let source = Source {
            topic: input.topic,
            partition: input.partition,
            offset: input.offset,
        };
        if let (Some(shadow), Some(candidate)) = (self.shadow.as_deref_mut(), &candidate) {
            if let Some(value) = shadow.observe(claim, &source, &outcome, candidate) {
                self.shadowed.push((index, value));
            }
        }
        let start = self.heads.len();
        self.heads
            .extend_from_slice(self.prefixes[usize::from(outcome.pended)]);
        let at = now_millis();
        write_avro_head(
            self.heads,
            claim,
            &outcome,
            at,
            self.validator_version,
            &source,
        );
        self.tally.count(claim, &outcome);
        Ok(Made::Decided {
            pended: outcome.pended,
            head: start..self.heads.len(),
            version: outcome.rule_set_version,
        })
    }
}

fn now_millis() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}
