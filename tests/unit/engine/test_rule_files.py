"""Rule-set and catalogue files: a bad file stops with the file, the key and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consumer._native import expand_codes
from consumer.cli import main
from consumer.engine import Engine
from consumer.engine.engine import DEFAULT_RULES_PATH
from consumer.engine.icd10 import billable_codes
from consumer.errors import RuleSetError


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    for name in ("RB.046.A.yaml", "catalogue.yaml"):
        shutil.copy(DEFAULT_RULES_PATH / name, tmp_path)
    path = tmp_path / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return tmp_path / "RB.046.A.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "RB.046.A.yaml",
            "  pos.missing:",
            "  pos.mising:",
            "rules: unknown rule id 'pos.mising' (did you mean 'pos.missing'?)",
        ),
        (
            "RB.046.A.yaml",
            "effective_from: 2026-06-14",
            "effective_from: 2026-13-14",
            "effective_from: Input should be a valid date",
        ),
        (
            "RB.046.A.yaml",
            '  charges.line: { carc: "16", rarc: M79 }\n',
            "",
            "rules: no entry for charges.line",
        ),
        (
            "RB.046.A.yaml",
            "MEDICAID: { not_billable: [hit_professional] }",
            "MEDICAID: { not_billable: [hit_profesional] }",
            "code_sets: unknown code group(s) hit_profesional",
        ),
        (
            "RB.046.A.yaml",
            "[S9325-S9379, S9490-S9504]",
            "[S9325-S93799]",
            "extra_prior_authorization: 'S9325-S93799' is not a code range",
        ),
        ("RB.046.A.yaml", "policy_id: RB.046.A", "policy_id: [", "not valid YAML"),
        ("catalogue.yaml", "kind: per_diem", "kind: perdiem", "entries.5.kind: Input should be"),
        ("catalogue.yaml", "codes: [J9000-J9999]", "codes: [J0000-J9999]", "looks like a typo"),
    ],
)
def test_a_bad_file_names_the_file_the_key_and_the_problem(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    path = broken_copy(tmp_path, file, old, new)
    with pytest.raises(RuleSetError) as caught:
        Engine.load(path)
    text = str(caught.value)
    assert message in text
    assert str(tmp_path / file) in text
    assert "\n" not in text


def test_rules_check_exits_zero_on_the_shipped_rules_and_two_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "check"]) == 0
    assert "RB.046.A" in capsys.readouterr().out
    bad = broken_copy(tmp_path, "RB.046.A.yaml", "version:", "versoin:")
    assert main(["rules", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infusion-validator: error: ")
    assert err.count("\n") == 1


def test_code_ranges_expand_and_reject_nonsense() -> None:
    assert expand_codes(" s9326-S9328 ") == ["S9326", "S9327", "S9328"]
    assert expand_codes("99601") == ["99601"]
    for bad in ("S93", "S9328-S9326", "S9326-J9328", "S9326-S93280"):
        with pytest.raises(ValueError, match="S93"):
            expand_codes(bad)


def test_icd10_validity_comes_from_the_code_set_with_the_dot_optional() -> None:
    billable = billable_codes()
    assert {"E11.9", "E119"} <= billable
    assert "E11" not in billable  # a category, not billable
    assert "E11.99X" not in billable


def test_the_billable_codes_are_kept_once_per_code_set_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consumer.engine import icd10

    monkeypatch.setenv("INFUSION_VALIDATOR_CACHE", str(tmp_path))
    icd10.billable_codes.cache_clear()
    try:
        derived = icd10.billable_codes()
        (kept,) = tmp_path.glob("icd10cm-billable-*.txt")
        assert frozenset(kept.read_text().split()) == derived == icd10._from_package()
        icd10.billable_codes.cache_clear()
        kept.write_text("E11.9\nE119\n")  # read back from the file, not derived again
        assert icd10.billable_codes() == {"E11.9", "E119"}
    finally:
        icd10.billable_codes.cache_clear()
