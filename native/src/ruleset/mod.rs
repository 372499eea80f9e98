//! The rule sets the engine decides with, compiled once from the validated files.
//!
//! Python loads and validates `rules/*.yaml` (pydantic, with messages naming the file and the
//! key) and hands the engine their data as it is in the files (`file`); everything derived
//! from it - code ranges expanded, catalogue entries merged, contract overrides applied - is
//! computed here, once, and nowhere else.

pub mod catalogue;
pub mod codes;
pub mod file;
pub mod policy;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::text::parse_date;
use catalogue::Catalogue;
use file::{EngineFiles, LoadedRuleSet};
use policy::Policy;

/// One version of a policy: its default policy and one per contract.
pub struct RuleSet {
    pub path: String,
    pub title: String,
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

    /// The contract's policy, or the default for no contract or one without overrides.
    pub fn policy_for(&self, contract_id: Option<&str>) -> &Policy {
        contract_id
            .and_then(|id| self.contracts.get(id))
            .unwrap_or(&self.default)
    }
}

pub struct RuleSets {
    /// Oldest first.
    pub sets: Vec<RuleSet>,
    pub billable_diagnoses: HashSet<String>,
}

impl RuleSets {
    /// From the JSON of `EngineFiles`; the error names the rule-set file when it is about one.
    pub fn from_json(json: &str) -> Result<RuleSets, String> {
        let files: EngineFiles = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut sets = files
            .rule_sets
            .iter()
            .map(|loaded| compile(loaded).map_err(|e| format!("{}: {e}", loaded.path)))
            .collect::<Result<Vec<_>, _>>()?;
        if sets.is_empty() {
            return Err("no rule set to decide with".into());
        }
        sets.sort_by_key(|rs| rs.effective_from);
        Ok(RuleSets {
            sets,
            billable_diagnoses: files.billable_diagnoses.into_iter().collect(),
        })
    }

    /// The rule set in effect on a claim's last date of service.
    pub fn in_effect_on(&self, day: i32) -> Option<&RuleSet> {
        self.sets.iter().rev().find(|rs| rs.in_effect(day))
    }

    pub fn latest(&self) -> &RuleSet {
        self.sets.last().expect("from_json refuses an empty list")
    }

    pub fn versions(&self) -> Vec<String> {
        let sets = self.sets.iter();
        sets.map(|rs| rs.default.version.clone()).collect()
    }
}

fn compile(loaded: &LoadedRuleSet) -> Result<RuleSet, String> {
    let file = &loaded.rule_set;
    let day = |text: &str| parse_date(text).ok_or_else(|| format!("{text} is not an ISO date"));
    let effective_from = day(&file.effective_from)?;
    let effective_to = file.effective_to.as_deref().map(day).transpose()?;
    let catalogue = catalogue::compile(&loaded.catalogue)?;
    let default = policy::compile(file, effective_from, None)?;
    let mut contracts = HashMap::default();
    for (id, contract) in &file.contracts {
        contracts.insert(
            id.clone(),
            policy::compile(file, effective_from, Some((id, contract)))?,
        );
    }
    Ok(RuleSet {
        path: loaded.path.clone(),
        title: file.title.clone(),
        effective_from,
        effective_to,
        catalogue,
        default,
        contracts,
    })
}
