//! A rule set's parameters after any contract override: what the rules consult.

use std::collections::BTreeMap;

use rustc_hash::FxHashSet as HashSet;

use super::codes::{expand_codes, lob, lobs};
use super::file::{CodeSet, Contract, ReasonCodes, RuleSetFile};
use crate::claim::LINES_OF_BUSINESS;
use crate::rules::RuleId;

const LOBS: usize = LINES_OF_BUSINESS.len();

/// A rule that runs under a policy, with the reason codes it reports.
pub struct ActiveRule {
    pub rule: RuleId,
    pub carc: Option<String>,
    pub rarc: Option<String>,
}

impl ActiveRule {
    /// A reason with a CARC pends the claim; one without is informational.
    pub fn pends(&self) -> bool {
        self.carc.as_deref().is_some_and(|carc| !carc.is_empty())
    }
}

pub struct Policy {
    pub policy_id: String,
    pub version: String,
    pub contract_id: Option<String>,
    pub effective_from: i32,
    pub home_place_of_service: String,
    pub ndc_qualifier: String,
    pub ndc_units: Vec<String>,
    /// Code groups each line of business may not bill.
    pub not_billable: [HashSet<String>; LOBS],
    pub bundling: [bool; LOBS],
    /// Codes needing authorization beyond the catalogue's list, by line of business.
    pub extra_prior_authorization: [HashSet<String>; LOBS],
    /// In registry order, so reasons come out in the same order whatever the file's order.
    pub rules: Vec<ActiveRule>,
}

impl Policy {
    pub fn active(&self, rule: RuleId) -> Option<&ActiveRule> {
        self.rules.iter().find(|active| active.rule == rule)
    }
}

/// The default policy of `file` (`contract` None) or a contract's.
pub fn compile(
    file: &RuleSetFile,
    effective_from: i32,
    contract: Option<(&str, &Contract)>,
) -> Result<Policy, String> {
    let over = contract.map(|(_, c)| c);
    let mut code_sets: BTreeMap<&str, &CodeSet> = BTreeMap::new();
    let mut reasons: BTreeMap<&str, &ReasonCodes> = BTreeMap::new();
    code_sets.extend(file.code_sets.iter().map(|(k, v)| (k.as_str(), v)));
    reasons.extend(file.rules.iter().map(|(k, v)| (k.as_str(), v)));
    let mut extra_pa: [HashSet<String>; LOBS] = Default::default();
    add_authorizations(&mut extra_pa, &file.extra_prior_authorization)?;
    let mut bundling_names = file.bundling_lines_of_business.clone().unwrap_or_default();
    let mut home = file.home_place_of_service.clone();
    if let Some(over) = over {
        code_sets.extend(over.code_sets.iter().map(|(k, v)| (k.as_str(), v)));
        reasons.extend(over.rules.iter().map(|(k, v)| (k.as_str(), v)));
        add_authorizations(&mut extra_pa, &over.extra_prior_authorization)?;
        if let Some(names) = &over.bundling_lines_of_business {
            bundling_names = names.clone();
        }
        if let Some(pos) = &over.home_place_of_service {
            home = pos.clone();
        }
    }
    let mut not_billable: [HashSet<String>; LOBS] = Default::default();
    for (name, set) in code_sets {
        not_billable[lob(name)?] = set.not_billable.iter().cloned().collect();
    }
    let mut bundling = [false; LOBS];
    for name in &bundling_names {
        bundling[lob(name)?] = true;
    }
    let mut rules = Vec::new();
    for rule in RuleId::ALL {
        let Some(codes) = reasons.get(rule.id()) else {
            return Err(format!("rules: no entry for {}", rule.id()));
        };
        if codes.enabled {
            rules.push(ActiveRule {
                rule: *rule,
                carc: codes.carc.clone(),
                rarc: codes.rarc.clone(),
            });
        }
    }
    if let Some(unknown) = reasons.keys().find(|id| RuleId::parse(id).is_none()) {
        return Err(format!("rules: unknown rule id {unknown}"));
    }
    let mut ndc_units = file.ndc.units.clone();
    ndc_units.sort();
    ndc_units.dedup();
    Ok(Policy {
        policy_id: file.policy_id.clone(),
        version: file.version.clone(),
        contract_id: contract.map(|(id, _)| id.to_owned()),
        effective_from,
        home_place_of_service: home,
        ndc_qualifier: file.ndc.qualifier.clone(),
        ndc_units,
        not_billable,
        bundling,
        extra_prior_authorization: extra_pa,
        rules,
    })
}

fn add_authorizations(
    into: &mut [HashSet<String>; LOBS],
    specs_by_lob: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    for (name, specs) in specs_by_lob {
        for index in lobs(name)? {
            for spec in specs {
                into[index].extend(expand_codes(spec)?);
            }
        }
    }
    Ok(())
}
