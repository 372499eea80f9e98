//! The golden cases (`tests/data/golden/`), the shared specification of the rules: every case
//! decided by the engine exactly as its file says; and the golden sequences
//! (`tests/data/sequences/`) for the claim-history rules, all in one stream. pytest runs the
//! same files through `validate`, and the integration tests through the service.
//!
//! The engine is built from `tests/data/engine.json`: the shipped rule set as the
//! Python loader hands it over, with the ICD-10-CM codes the cases use (pytest checks that the
//! file is up to date: `python tests/data/engine_fixture.py`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use _native::codec::{avro, json};
use _native::history::decide_recorded;
use _native::history::store::PartitionStore;
use _native::ruleset::RuleSets;
use serde_json::Value;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/golden")
}

fn cases(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("golden folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            cases(&path, into);
        } else if path.extension().is_some_and(|e| e == "json") {
            into.push(path);
        }
    }
}

type Reasons = BTreeSet<(String, Option<String>, Option<String>)>;

fn expected(case: &Value) -> (String, Reasons) {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let wanted = &case["expected"];
    let reasons = wanted["reasons"].as_array().expect("reasons");
    let reasons = reasons.iter();
    let reasons = reasons.map(|r| {
        (
            text(&r["rule_id"]).unwrap(),
            text(&r["carc"]),
            text(&r["rarc"]),
        )
    });
    (text(&wanted["decision"]).unwrap(), reasons.collect())
}

#[test]
fn every_golden_case_is_decided_as_its_file_says() {
    let engine_json = fs::read_to_string(golden().join("../engine.json")).expect("engine.json");
    let engine = RuleSets::from_json(&engine_json).expect("the shipped rule set loads");
    let mut paths = Vec::new();
    cases(&golden(), &mut paths);
    paths.sort();
    assert!(paths.len() >= 178, "only {} golden cases", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let case: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        let text = serde_json::to_vec(&case["claim"]).unwrap();
        let claim = json::parse(&text).unwrap_or_else(|| panic!("{}: claim", path.display()));
        let outcome = engine.decide(&claim, None);
        let reasons = outcome.reasons.iter();
        let got: Reasons = reasons
            .map(|r| {
                (
                    r.rule_id().to_owned(),
                    r.carc().map(str::to_owned),
                    r.rarc().map(str::to_owned),
                )
            })
            .collect();
        let got = (outcome.decision().to_owned(), got);
        if got != expected(&case) {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                path.display(),
                expected(&case)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

/// One step of a sequence: the decision, or "RESENT" for an event decided before.
fn decided(
    engine: &RuleSets,
    store: &mut PartitionStore,
    claim: &serde_json::Value,
) -> (String, Reasons) {
    let text = serde_json::to_vec(claim).unwrap();
    let claim = json::parse(&text).expect("a plainly written claim");
    let outcome = decide_recorded(Some(&mut *store), &claim, |past| {
        let outcome = engine.decide(&claim, past);
        let reasons = outcome.reasons.iter();
        let reasons = reasons.map(|r| {
            let text = |t: Option<&str>| t.map(str::to_owned);
            (r.rule_id().to_owned(), text(r.carc()), text(r.rarc()))
        });
        (outcome.decision().to_owned(), reasons.collect())
    });
    store.commit();
    outcome.unwrap_or_else(|| ("RESENT".to_owned(), Reasons::new()))
}

#[test]
fn every_golden_sequence_is_decided_as_its_file_says_in_one_stream() {
    let engine_json = fs::read_to_string(golden().join("../engine.json")).expect("engine.json");
    let engine = RuleSets::from_json(&engine_json).expect("the shipped rule set loads");
    let mut paths = Vec::new();
    cases(&golden().join("../sequences"), &mut paths);
    paths.sort();
    assert!(paths.len() >= 18, "only {} sequences", paths.len());
    // All sequences in one stream, as `validate` and the service see them: members differ.
    let mut store = PartitionStore::new(400);
    let mut failures = Vec::new();
    for path in &paths {
        let case: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let got = decided(&engine, &mut store, &step["claim"]);
            let want = &step["expected"];
            let want = if want["decision"] == "RESENT" {
                ("RESENT".to_owned(), Reasons::new())
            } else {
                expected(step)
            };
            if got != want {
                failures.push(format!(
                    "{} step {i}: got {got:?}, want {want:?}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_golden_claim_written_in_avro_reads_back_and_decides_the_same() {
    let engine_json = fs::read_to_string(golden().join("../engine.json")).expect("engine.json");
    let engine = RuleSets::from_json(&engine_json).expect("the shipped rule set loads");
    let mut paths = Vec::new();
    cases(&golden(), &mut paths);
    for path in &paths {
        let case: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        let text = serde_json::to_vec(&case["claim"]).unwrap();
        let claim = json::parse(&text).unwrap();
        let body = avro::write_claim(&claim);
        let read = avro::read_claim(&body).unwrap_or_else(|| panic!("{}", path.display()));
        assert_eq!(avro::write_claim(&read), body, "{}", path.display());
        let (a, b) = (engine.decide(&claim, None), engine.decide(&read, None));
        let keys = |o: &_native::engine::Outcome| -> Vec<String> {
            o.reasons
                .iter()
                .map(|r| format!("{:?} {}", r.key(), r.message))
                .collect()
        };
        assert_eq!(keys(&a), keys(&b), "{}", path.display());
    }
}
