//! The code catalogue compiled for lookups: one `CodeInfo` per listed code.
//!
//! Entries apply in file order: `kind`, `unit_basis`, `hit_category`, `add_on_to` and the
//! effective dates come from the last entry that sets them, flags and sets accumulate, and
//! "do not use A with B" binds both ways. Unlisted codes take their first letter's default,
//! else kind `other`.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::codes::{expand_codes, lob, lobs, Kind};
use super::file::CatalogueFile;
use crate::claim::LINES_OF_BUSINESS;
use crate::text::{normalise, parse_date};

const LOBS: usize = LINES_OF_BUSINESS.len();

/// Everything the rules know about one procedure code.
#[derive(Clone)]
pub struct CodeInfo {
    pub kind: Kind,
    pub hit_category: Option<u8>,
    pub groups: Vec<String>,
    pub prior_authorization: [bool; LOBS],
    pub exclusive_with: HashSet<String>,
    pub exclusive_with_kinds: Vec<Kind>,
    pub not_otherwise_classified: bool,
    pub bundled_into_per_diem: bool,
    pub initial_visit: bool,
    pub add_on_to: Option<String>,
    pub required_modifiers: [Option<Vec<String>>; LOBS],
    pub effective_from: Option<i32>,
    pub effective_to: Option<i32>,
    /// J- and Q-code drugs carry the infusion count and the NDC requirements.
    pub is_jq_drug: bool,
    /// Any exclusivity at all, so the pairwise check can skip the common case.
    pub has_exclusions: bool,
}

impl CodeInfo {
    fn new(kind: Kind) -> Self {
        CodeInfo {
            kind,
            hit_category: None,
            groups: Vec::new(),
            prior_authorization: [false; LOBS],
            exclusive_with: HashSet::default(),
            exclusive_with_kinds: Vec::new(),
            not_otherwise_classified: false,
            bundled_into_per_diem: false,
            initial_visit: false,
            add_on_to: None,
            required_modifiers: Default::default(),
            effective_from: None,
            effective_to: None,
            is_jq_drug: false,
            has_exclusions: false,
        }
    }

    fn seal(mut self, code: &str) -> Self {
        self.is_jq_drug = self.kind == Kind::Drug && code.starts_with(['J', 'Q']);
        self.has_exclusions =
            !self.exclusive_with.is_empty() || !self.exclusive_with_kinds.is_empty();
        self.groups.sort();
        self
    }
}

pub struct Catalogue {
    pub version: String,
    /// By `key`.
    codes: HashMap<u64, CodeInfo>,
    defaults: HashMap<char, CodeInfo>,
    other: CodeInfo,
}

/// A listed code (5 characters, `codes::expand_codes`) as a number, None for any other text.
/// Hashing and comparing a number instead of a string cut `lookup` from ~8 % of `decide` to
/// ~3.5 % (perf, 5-line claims: the string's hash and a `memcmp` call per lookup).
fn key(code: &str) -> Option<u64> {
    let five: [u8; 5] = code.as_bytes().try_into().ok()?;
    let mut eight = [0; 8];
    eight[..5].copy_from_slice(&five);
    Some(u64::from_le_bytes(eight))
}

impl Catalogue {
    /// A normalised code's entry, else its first letter's default, else "other".
    pub fn lookup(&self, code: &str) -> &CodeInfo {
        if let Some(info) = key(code).and_then(|key| self.codes.get(&key)) {
            return info;
        }
        code.chars()
            .next()
            .and_then(|first| self.defaults.get(&first))
            .unwrap_or(&self.other)
    }

    /// How many codes the catalogue lists.
    pub fn listed(&self) -> usize {
        self.codes.len()
    }

    pub fn groups(&self) -> HashSet<&str> {
        let infos = self.codes.values();
        infos
            .flat_map(|i| i.groups.iter().map(String::as_str))
            .collect()
    }
}

fn date(text: &Option<String>) -> Result<Option<i32>, String> {
    text.as_deref()
        .map(|t| parse_date(t).ok_or_else(|| format!("{t} is not an ISO date")))
        .transpose()
}

pub fn compile(file: &CatalogueFile) -> Result<Catalogue, String> {
    let mut defaults = HashMap::default();
    for (prefix, default) in &file.prefix_defaults {
        let mut chars = prefix.chars();
        let (Some(first), None) = (chars.next(), chars.next()) else {
            return Err(format!("prefix default {prefix:?} is not one letter"));
        };
        defaults.insert(first, CodeInfo::new(Kind::parse(&default.kind)?));
    }
    let mut codes: HashMap<String, CodeInfo> = HashMap::default();
    let slot = |codes: &mut HashMap<String, CodeInfo>, code: &str| {
        if !codes.contains_key(code) {
            let first = code.chars().next();
            let default = first.and_then(|c| defaults.get(&c));
            let kind = default.map_or(Kind::Other, |d| d.kind);
            codes.insert(code.to_owned(), CodeInfo::new(kind));
        }
    };
    for entry in &file.entries {
        let mut partners = Vec::new();
        for spec in &entry.exclusive_with {
            partners.extend(expand_codes(spec)?);
        }
        let kind = entry.kind.as_deref().map(Kind::parse).transpose()?;
        let exclusive_kinds = (entry.exclusive_with_kinds.iter())
            .map(|k| Kind::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        let (from, to) = (date(&entry.effective_from)?, date(&entry.effective_to)?);
        let mut authorized = Vec::new();
        for name in &entry.prior_authorization {
            authorized.extend(lobs(name)?);
        }
        let mut modifiers = Vec::new();
        for (name, list) in &entry.required_modifiers {
            let list: Vec<String> = list.iter().map(|m| normalise(m).into_owned()).collect();
            modifiers.push((lob(name)?, list));
        }
        for spec in &entry.codes {
            for code in expand_codes(spec)? {
                slot(&mut codes, &code);
                let info = codes.get_mut(&code).expect("slot inserted it");
                info.kind = kind.unwrap_or(info.kind);
                info.hit_category = entry.hit_category.or(info.hit_category);
                if entry.add_on_to.is_some() {
                    info.add_on_to = entry
                        .add_on_to
                        .as_deref()
                        .map(|c| normalise(c).into_owned());
                }
                info.effective_from = from.or(info.effective_from);
                info.effective_to = to.or(info.effective_to);
                info.not_otherwise_classified |= entry.not_otherwise_classified;
                info.bundled_into_per_diem |= entry.bundled_into_per_diem;
                info.initial_visit |= entry.initial_visit;
                for group in &entry.groups {
                    if !info.groups.contains(group) {
                        info.groups.push(group.clone());
                    }
                }
                for &lob in &authorized {
                    info.prior_authorization[lob] = true;
                }
                for kind in &exclusive_kinds {
                    if !info.exclusive_with_kinds.contains(kind) {
                        info.exclusive_with_kinds.push(*kind);
                    }
                }
                for (lob, list) in &modifiers {
                    info.required_modifiers[*lob] = Some(list.clone());
                }
                info.exclusive_with.extend(partners.iter().cloned());
                for partner in &partners {
                    slot(&mut codes, partner);
                    let other = codes.get_mut(partner).expect("slot inserted it");
                    other.exclusive_with.insert(code.clone());
                }
            }
        }
    }
    let codes = codes
        .into_iter()
        .map(|(code, info)| {
            let key = key(&code).ok_or_else(|| format!("'{code}' is not a 5-character code"))?;
            Ok((key, info.seal(&code)))
        })
        .collect::<Result<_, String>>()?;
    let defaults = defaults
        .into_iter()
        .map(|(first, info)| (first, info.seal(&first.to_string())))
        .collect();
    Ok(Catalogue {
        version: file.version.clone(),
        codes,
        defaults,
        other: CodeInfo::new(Kind::Other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(json: &str) -> Catalogue {
        compile(&serde_json::from_str(json).expect("a catalogue file")).expect("compiles")
    }

    const ENTRY: &str = r#""unit_basis": null, "hit_category": null, "groups": [],
        "prior_authorization": [], "exclusive_with": [], "exclusive_with_kinds": [],
        "not_otherwise_classified": false, "bundled_into_per_diem": false,
        "initial_visit": false, "add_on_to": null, "required_modifiers": {},
        "effective_from": null, "effective_to": null"#;

    #[test]
    fn entries_merge_code_by_code_and_exclusions_bind_both_ways() {
        let json = format!(
            r#"{{"version": "t",
                "prefix_defaults": {{"J": {{"kind": "drug", "unit_basis": null}}}},
                "entries": [
                  {{"codes": ["S9325-S9326"], "kind": "per_diem", {}}},
                  {{"codes": ["s9325"], "kind": null, {}}}
                ]}}"#,
            ENTRY.replace(r#""groups": []"#, r#""groups": ["g"]"#),
            ENTRY
                .replace(r#""exclusive_with": []"#, r#""exclusive_with": ["S9326"]"#)
                .replace(
                    r#""prior_authorization": []"#,
                    r#""prior_authorization": ["ALL"]"#
                ),
        );
        let cat = catalogue(&json);
        let (first, second) = (cat.lookup("S9325"), cat.lookup("S9326"));
        assert_eq!(first.kind, Kind::PerDiem);
        assert_eq!(first.groups, ["g"]);
        assert!(first.exclusive_with.contains("S9326") && first.has_exclusions);
        assert!(second.exclusive_with.contains("S9325"));
        assert!(
            first.prior_authorization.iter().all(|lob| *lob),
            "ALL is every LOB"
        );
        assert!(cat.lookup("J0690").is_jq_drug);
        assert_eq!(cat.lookup("ZZZZZ").kind, Kind::Other);
        assert_eq!(cat.listed(), 2);
    }
}
