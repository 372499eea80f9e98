//! The rule-set and catalogue files as `consumer.engine.files` validated them: the engine is
//! handed pydantic's `model_dump(mode="json")` of each, every field present (defaults filled
//! in), dates as ISO strings.
//!
//! No field has a default here and unknown fields are refused, so a field added to, renamed
//! in or dropped from the pydantic models without the engine knowing stops start-up instead
//! of being ignored (`tests/unit/engine/test_files.py` loads the shipped files both ways).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCodes {
    pub carc: Option<String>,
    pub rarc: Option<String>,
    pub enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSet {
    pub not_billable: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ndc {
    pub qualifier: String,
    pub units: Vec<String>,
}

/// What a contract may change (`Overrides` in Python).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub description: String,
    pub home_place_of_service: Option<String>,
    pub code_sets: BTreeMap<String, CodeSet>,
    pub bundling_lines_of_business: Option<Vec<String>>,
    pub extra_prior_authorization: BTreeMap<String, Vec<String>>,
    pub rules: BTreeMap<String, ReasonCodes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetFile {
    pub policy_id: String,
    pub version: String,
    pub title: String,
    pub effective_from: String,
    pub effective_to: Option<String>,
    pub catalogue: String,
    pub home_place_of_service: String,
    pub ndc: Ndc,
    pub code_sets: BTreeMap<String, CodeSet>,
    pub bundling_lines_of_business: Option<Vec<String>>,
    pub extra_prior_authorization: BTreeMap<String, Vec<String>>,
    pub rules: BTreeMap<String, ReasonCodes>,
    pub contracts: BTreeMap<String, Contract>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixDefault {
    pub kind: String,
    pub unit_basis: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    pub codes: Vec<String>,
    pub kind: Option<String>,
    pub unit_basis: Option<String>,
    pub hit_category: Option<u8>,
    pub groups: Vec<String>,
    pub prior_authorization: Vec<String>,
    pub exclusive_with: Vec<String>,
    pub exclusive_with_kinds: Vec<String>,
    pub not_otherwise_classified: bool,
    pub bundled_into_per_diem: bool,
    pub initial_visit: bool,
    pub add_on_to: Option<String>,
    pub required_modifiers: BTreeMap<String, Vec<String>>,
    pub effective_from: Option<String>,
    pub effective_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    pub version: String,
    pub prefix_defaults: BTreeMap<String, PrefixDefault>,
    pub entries: Vec<CatalogueEntry>,
}

/// One rule set as loaded: the file, its catalogue, and where it came from (for messages).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadedRuleSet {
    pub path: String,
    pub rule_set: RuleSetFile,
    pub catalogue: CatalogueFile,
}

/// Everything the engine is built from (`consumer.engine.Engine.load`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFiles {
    pub rule_sets: Vec<LoadedRuleSet>,
    /// Billable ICD-10-CM codes, upper case, each with and without its dot.
    pub billable_diagnoses: Vec<String>,
}
