"""`tests/data/engine.json`: what `cargo test` builds the engine from to run the golden cases
(`native/tests/golden.rs`) - the shipped rule set exactly as `Engine.load` hands it to the
compiled engine, with the billable ICD-10-CM codes the cases use.

pytest fails when the file is out of date (`tests/unit/engine/test_golden.py`); rewrite it with
`python tests/data/engine_fixture.py` after changing `rules/` or the cases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURE = HERE / "engine.json"
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from consumer.engine.engine import DEFAULT_RULES_PATH  # noqa: E402
from consumer.engine.files import read_rule_set  # noqa: E402
from consumer.engine.icd10 import billable_codes  # noqa: E402


def fixture() -> str:
    rule_set = read_rule_set(DEFAULT_RULES_PATH / "RB.046.A.yaml")
    rule_set["path"] = "rules/RB.046.A.yaml"
    used = set()
    for case in sorted((HERE / "golden").rglob("*.json")):
        used.update(json.loads(case.read_text())["claim"]["diagnosis_codes"])
    normalised = {code.strip().upper() for code in used}
    billable = sorted(normalised & billable_codes())
    return json.dumps({"rule_sets": [rule_set], "billable_diagnoses": billable}, indent=1) + "\n"


if __name__ == "__main__":
    FIXTURE.write_text(fixture())
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
