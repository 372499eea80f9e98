//! How two decisions of one claim differ: `replay --diff` and shadow rule sets.
//!
//! Reasons are compared whole - rule, line, CARC and RARC, informational ones included - but
//! not their wording. A claim differs when its decision flips or any reason does.

use std::collections::BTreeMap;

use crate::engine::{Outcome, Reason};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RuleChange {
    /// The rule reports reasons under the second rule set only.
    Added,
    /// The rule reports reasons under the first rule set only.
    Removed,
    /// Both report reasons, but on other lines or with other reason codes.
    Changed,
}

impl RuleChange {
    pub fn sign(self) -> char {
        match self {
            RuleChange::Added => '+',
            RuleChange::Removed => '-',
            RuleChange::Changed => '~',
        }
    }
}

pub struct Difference {
    pub before_pended: bool,
    pub after_pended: bool,
    /// By rule id, sorted.
    pub rules: Vec<(&'static str, RuleChange)>,
}

type Key<'a> = (Option<i32>, Option<&'a str>, Option<&'a str>);

fn by_rule<'a>(outcome: &'a Outcome) -> BTreeMap<&'static str, Vec<Key<'a>>> {
    let mut keys: BTreeMap<&'static str, Vec<Key<'a>>> = BTreeMap::new();
    for reason in &outcome.reasons {
        let (rule, line, carc, rarc) = reason.key();
        keys.entry(rule).or_default().push((line, carc, rarc));
    }
    for list in keys.values_mut() {
        list.sort_unstable();
    }
    keys
}

/// None when the two outcomes agree.
pub fn compare(before: &Outcome, after: &Outcome) -> Option<Difference> {
    // Two rule sets mostly agree reason for reason, in the same order: then nothing need be
    // grouped and sorted (`by_rule`'s maps were ~3 % of the stream's `decide` with a shadow).
    if before.pended == after.pended
        && (before.reasons.iter().map(Reason::key)).eq(after.reasons.iter().map(Reason::key))
    {
        return None;
    }
    let (a, b) = (by_rule(before), by_rule(after));
    let mut rules = Vec::new();
    for rule in a
        .keys()
        .chain(b.keys().filter(|rule| !a.contains_key(*rule)))
    {
        let change = match (a.get(rule), b.get(rule)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => RuleChange::Changed,
            (Some(_), None) => RuleChange::Removed,
            (None, _) => RuleChange::Added,
        };
        rules.push((*rule, change));
    }
    rules.sort_unstable_by_key(|(rule, _)| *rule);
    if rules.is_empty() && before.pended == after.pended {
        return None;
    }
    Some(Difference {
        before_pended: before.pended,
        after_pended: after.pended,
        rules,
    })
}
