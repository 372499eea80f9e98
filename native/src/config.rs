//! The rule sets, as the Python side compiled them (`consumer.fastpath.native_config`), sent
//! over once as JSON and turned into lookup structures for the per-claim work.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::claim::{lob_index, LINES_OF_BUSINESS};
use crate::rules::RuleId;

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Drug,
    PerDiem,
    HitProfessional,
    Nursing,
    Equipment,
    Supply,
    Other,
}

/// One procedure code's catalogue entry (`consumer.engine.catalogue.CodeInfo`).
#[derive(Deserialize)]
pub struct CodeInfo {
    pub kind: Kind,
    pub hit_category: Option<i64>,
    pub groups: Vec<String>,
    pub prior_authorization: Vec<String>,
    pub exclusive_with: HashSet<String>,
    pub exclusive_with_kinds: Vec<Kind>,
    pub not_otherwise_classified: bool,
    pub bundled_into_per_diem: bool,
    pub add_on_to: Option<String>,
    pub required_modifiers: HashMap<String, Vec<String>>,
    pub effective_from: Option<i32>,
    pub effective_to: Option<i32>,
    pub is_jq_drug: bool,
    pub has_exclusions: bool,
    #[serde(skip)]
    pub prior_authorization_lobs: [bool; 5],
    #[serde(skip)]
    pub required_modifiers_by_lob: [Option<Vec<String>>; 5],
}

#[derive(Deserialize)]
pub struct CatalogueData {
    codes: HashMap<String, CodeInfo>,
    prefix_defaults: HashMap<String, CodeInfo>,
    other: CodeInfo,
}

pub struct Catalogue {
    codes: HashMap<String, CodeInfo>,
    prefix_defaults: HashMap<char, CodeInfo>,
    other: CodeInfo,
}

impl Catalogue {
    /// `Catalogue.lookup`: the code's entry, else its first letter's default, else "other".
    pub fn lookup(&self, code: &str) -> &CodeInfo {
        if let Some(info) = self.codes.get(code) {
            return info;
        }
        code.chars()
            .next()
            .and_then(|first| self.prefix_defaults.get(&first))
            .unwrap_or(&self.other)
    }
}

#[derive(Deserialize)]
pub struct ActiveRuleData {
    pub rule_id: String,
    pub carc: Option<String>,
    pub rarc: Option<String>,
}

pub struct ActiveRule {
    pub rule: RuleId,
    pub rule_id: String,
    pub carc: Option<String>,
    pub rarc: Option<String>,
}

impl ActiveRule {
    /// A reason with a CARC pends the claim (Python: `if active.carc`, so "" does not).
    pub fn pends(&self) -> bool {
        self.carc.as_deref().is_some_and(|carc| !carc.is_empty())
    }
}

#[derive(Deserialize)]
struct PolicyData {
    policy_id: String,
    version: String,
    effective_from: i32,
    home_place_of_service: String,
    ndc_qualifier: String,
    ndc_units: Vec<String>,
    not_billable: HashMap<String, Vec<String>>,
    bundling_lines_of_business: Vec<String>,
    extra_prior_authorization: HashMap<String, Vec<String>>,
    rules: Vec<ActiveRuleData>,
}

/// `consumer.engine.policy.Policy`, with line-of-business keys turned into indexes.
pub struct Policy {
    pub policy_id: String,
    pub version: String,
    pub effective_from: i32,
    pub home_place_of_service: String,
    pub ndc_qualifier: String,
    pub ndc_units: HashSet<String>,
    /// Sorted, so the units list in a message reads like Python's `sorted(units)`.
    pub ndc_units_sorted: Vec<String>,
    pub not_billable: [Option<HashSet<String>>; 5],
    pub bundling: [bool; 5],
    pub extra_prior_authorization: [Option<HashSet<String>>; 5],
    pub rules: Vec<ActiveRule>,
}

impl Policy {
    pub fn needs_authorization(&self, code: &str, info: &CodeInfo, lob: u8) -> bool {
        info.prior_authorization_lobs[lob as usize]
            || self.extra_prior_authorization[lob as usize]
                .as_ref()
                .is_some_and(|codes| codes.contains(code))
    }
}

#[derive(Deserialize)]
struct RuleSetData {
    effective_from: i32,
    effective_to: Option<i32>,
    catalogue: CatalogueData,
    default: PolicyData,
    contracts: HashMap<String, PolicyData>,
}

pub struct RuleSet {
    pub effective_from: i32,
    pub effective_to: Option<i32>,
    pub catalogue: Catalogue,
    pub default: Policy,
    pub contracts: HashMap<String, Policy>,
}

impl RuleSet {
    pub fn in_effect(&self, day: i32) -> bool {
        day >= self.effective_from && self.effective_to.is_none_or(|end| day < end)
    }

    pub fn policy_for(&self, contract_id: Option<&str>) -> &Policy {
        contract_id
            .and_then(|id| self.contracts.get(id))
            .unwrap_or(&self.default)
    }
}

#[derive(Deserialize)]
struct ConfigData {
    rule_sets: Vec<RuleSetData>,
    billable_diagnoses: HashSet<String>,
}

pub struct Config {
    /// Oldest first, as `Engine.rule_sets`.
    pub rule_sets: Vec<RuleSet>,
    pub billable_diagnoses: HashSet<String>,
}

pub fn parse(json: &str) -> Result<Config, String> {
    let data: ConfigData = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if data.rule_sets.is_empty() {
        return Err("no rule set".into());
    }
    let mut rule_sets = data
        .rule_sets
        .into_iter()
        .map(|rs| {
            Ok(RuleSet {
                effective_from: rs.effective_from,
                effective_to: rs.effective_to,
                catalogue: catalogue(rs.catalogue)?,
                default: policy(rs.default)?,
                contracts: rs
                    .contracts
                    .into_iter()
                    .map(|(id, p)| Ok((id, policy(p)?)))
                    .collect::<Result<_, String>>()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    rule_sets.sort_by_key(|rs| rs.effective_from);
    Ok(Config {
        rule_sets,
        billable_diagnoses: data.billable_diagnoses,
    })
}

fn lob(name: &str) -> Result<usize, String> {
    lob_index(name)
        .map(usize::from)
        .ok_or_else(|| format!("unknown line of business {name}"))
}

fn by_lob<T>(map: HashMap<String, T>) -> Result<[Option<T>; 5], String> {
    let mut out: [Option<T>; 5] = Default::default();
    for (name, value) in map {
        out[lob(&name)?] = Some(value);
    }
    Ok(out)
}

fn code_info(mut info: CodeInfo) -> Result<CodeInfo, String> {
    for name in &info.prior_authorization {
        info.prior_authorization_lobs[lob(name)?] = true;
    }
    info.required_modifiers_by_lob = by_lob(std::mem::take(&mut info.required_modifiers))?;
    Ok(info)
}

fn catalogue(data: CatalogueData) -> Result<Catalogue, String> {
    let codes = data
        .codes
        .into_iter()
        .map(|(c, i)| Ok((c, code_info(i)?)))
        .collect::<Result<_, String>>()?;
    let mut prefix_defaults = HashMap::new();
    for (prefix, info) in data.prefix_defaults {
        let mut chars = prefix.chars();
        match (chars.next(), chars.next()) {
            (Some(first), None) => prefix_defaults.insert(first, code_info(info)?),
            _ => return Err(format!("prefix default {prefix:?} is not one character")),
        };
    }
    Ok(Catalogue {
        codes,
        prefix_defaults,
        other: code_info(data.other)?,
    })
}

fn policy(data: PolicyData) -> Result<Policy, String> {
    let rules = data
        .rules
        .into_iter()
        .map(|r| {
            let rule = RuleId::parse(&r.rule_id)
                .ok_or_else(|| format!("rule {} has no native implementation", r.rule_id))?;
            Ok(ActiveRule {
                rule,
                rule_id: r.rule_id,
                carc: r.carc,
                rarc: r.rarc,
            })
        })
        .collect::<Result<_, String>>()?;
    let mut bundling = [false; 5];
    for name in &data.bundling_lines_of_business {
        bundling[lob(name)?] = true;
    }
    let mut ndc_units_sorted = data.ndc_units.clone();
    ndc_units_sorted.sort();
    ndc_units_sorted.dedup();
    let to_sets = |map: HashMap<String, Vec<String>>| {
        by_lob(
            map.into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
        )
    };
    debug_assert_eq!(LINES_OF_BUSINESS.len(), 5);
    Ok(Policy {
        policy_id: data.policy_id,
        version: data.version,
        effective_from: data.effective_from,
        home_place_of_service: data.home_place_of_service,
        ndc_qualifier: data.ndc_qualifier,
        ndc_units: data.ndc_units.into_iter().collect(),
        ndc_units_sorted,
        not_billable: to_sets(data.not_billable)?,
        bundling,
        extra_prior_authorization: to_sets(data.extra_prior_authorization)?,
        rules,
    })
}
