"""Sanity-check the golden decision cases: run `python tests/data/golden/check_cases.py`.

Checks what a golden case must get right besides the defect it is about, so that a case
fails for exactly the reasons it lists:
- every file parses and has exactly `description`, `claim`, `expected`; the claim has exactly
  the ClaimSubmitted / ServiceLine fields (the JSON reader refuses unknown keys);
- every reason names a known rule with its SPEC §3 CARC/RARC, and the decision matches
  (PENDED iff some reason has a CARC);
- event_id and claim_id are unique across the corpus; line numbers run 1..n;
- billing/rendering NPIs pass the check digit unless the case expects an `npi.*` reason;
- diagnosis codes are billable ICD-10-CM unless the case expects `diagnosis.invalid`;
- total_charge equals the sum of the line charges unless the case expects `charges.total`;
- coverage: every rule fails in at least two cases and is the named near miss of at least one
  passing case ("Near miss for: `rule`" in the description).
Exit status 1 on any problem; `--summary` also prints the coverage table.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for consumer

import simple_icd_10_cm as icd  # noqa: E402

from consumer._native import valid_npi as is_valid_npi  # noqa: E402

RULES: dict[str, tuple[str | None, str | None]] = {
    "pos.missing": ("16", "M77"),
    "pos.not-home": ("5", "M77"),
    "lob.code-set": ("16", "N657"),
    "drug.code-not-jqb": ("16", "N657"),
    "drug.infusions": ("16", "M53"),
    "units.invalid": ("16", "M53"),
    "units.per-diem": ("16", "N345"),
    "gcode.single-day": ("16", "N63"),
    "gcode.category-per-day": ("18", None),
    "dates.invalid": ("16", "M59"),
    "dates.future": ("110", None),
    "dates.calendar-year": ("268", None),
    "ndc.code": ("16", "M119"),
    "ndc.quantity": ("16", "M123"),
    "noc.description": ("16", "N350"),
    "diagnosis.missing": ("16", "M76"),
    "diagnosis.invalid": ("146", "M81"),
    "auth.missing": ("197", "M62"),
    "npi.billing": ("207", "N257"),
    "npi.rendering": ("207", "N290"),
    "charges.line": ("16", "M79"),
    "charges.total": ("16", "N379"),
    "member.missing": ("16", "N382"),
    "lob.unknown": ("109", None),
    "frequency.payer-claim-number": ("16", "M47"),
    "addon.primary-missing": ("16", "N122"),
    "codes.mutually-exclusive": ("231", None),
    "bundled.per-diem": ("97", "N390"),
    "modifier.route": ("4", None),
    "policy.straddles-effective-date": ("16", "N63"),
    "policy.not-in-effect": (None, None),
}
CLAIM_FIELDS = {
    "event_id", "claim_id", "frequency", "payer_claim_number", "submitted_at",
    "line_of_business", "contract_id", "member_id", "billing_npi", "rendering_npi",
    "place_of_service", "diagnosis_codes", "prior_authorization", "total_charge", "lines",
}  # fmt: skip
LINE_FIELDS = {
    "line_number", "procedure_code", "modifiers", "service_date_from", "service_date_to",
    "units", "infusions", "place_of_service", "diagnosis_pointers", "charge", "ndc",
    "prior_authorization", "rendering_npi", "description",
}  # fmt: skip
NEAR_MISS = re.compile(r"Near miss for: (.+?)\.?$")


def _billable(code: str) -> bool:
    c = code.strip().upper().replace(".", "")
    return bool(icd.is_valid_item(c) and icd.is_leaf(c))


def check_case(path: Path, doc: dict, problems: list[str]) -> None:
    def bad(msg: str) -> None:
        problems.append(f"{path.relative_to(HERE)}: {msg}")

    if set(doc) != {"description", "claim", "expected"}:
        bad(f"top-level keys {sorted(doc)}")
        return
    claim, expected = doc["claim"], doc["expected"]
    if set(claim) != CLAIM_FIELDS:
        bad(f"claim fields differ from the schema: {sorted(set(claim) ^ CLAIM_FIELDS)}")
    for n, line in enumerate(claim["lines"], 1):
        if set(line) != LINE_FIELDS:
            bad(f"line {n} fields differ: {sorted(set(line) ^ LINE_FIELDS)}")
        if line.get("line_number") != n:
            bad(f"line {n} has line_number {line.get('line_number')}")
    rules = [r["rule_id"] for r in expected["reasons"]]
    for reason in expected["reasons"]:
        rid = reason["rule_id"]
        if rid not in RULES:
            bad(f"unknown rule_id {rid}")
        elif (reason["carc"], reason["rarc"]) != RULES[rid]:
            bad(f"{rid} must carry {RULES[rid]}, has {(reason['carc'], reason['rarc'])}")
    if len(set(rules)) != len(rules):
        bad("a rule_id is listed twice (the test compares sets)")
    pended = any(RULES.get(r, (None,))[0] is not None for r in rules)
    if expected["decision"] != ("PENDED" if pended else "ACCEPTED"):
        bad(f"decision {expected['decision']} does not follow from the reasons")
    if "policy.not-in-effect" in rules:
        return  # no rule applies: such cases may carry any defect on purpose
    if not any(r.startswith("npi.") for r in rules):
        npis = [claim["billing_npi"], claim["rendering_npi"]]
        npis += [line["rendering_npi"] for line in claim["lines"]]
        for npi in npis:
            # A blank optional NPI is absent (SPEC §3, settled readings).
            if npi is not None and npi.strip() and not is_valid_npi(npi):
                bad(f"NPI {npi!r} fails the check digit")
    if "diagnosis.invalid" not in rules:
        for code in claim["diagnosis_codes"]:
            if not _billable(code):
                bad(f"diagnosis {code!r} is not a billable ICD-10-CM code")
    if "charges.total" not in rules:
        total = sum(Decimal(line["charge"]) for line in claim["lines"])
        if Decimal(claim["total_charge"]) != total:
            bad(f"total_charge {claim['total_charge']} != sum of lines {total}")


def main(argv: list[str]) -> int:
    problems: list[str] = []
    ids: Counter[str] = Counter()
    failing: dict[str, list[str]] = defaultdict(list)
    near: dict[str, list[str]] = defaultdict(list)
    files = sorted(HERE.rglob("*.json"))
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path.relative_to(HERE)}: does not parse: {exc}")
            continue
        check_case(path, doc, problems)
        claim = doc.get("claim", {})
        ids.update([f"event_id {claim.get('event_id')}", f"claim_id {claim.get('claim_id')}"])
        lob = claim.get("line_of_business", "?")
        for reason in doc.get("expected", {}).get("reasons", []):
            failing[reason["rule_id"]].append(lob)
        match = NEAR_MISS.search(doc.get("description", ""))
        if match:
            for rid in re.findall(r"`([^`]+)`", match.group(1)):
                if rid not in RULES:
                    problems.append(f"{path.relative_to(HERE)}: near miss for unknown {rid}")
                near[rid].append(lob)
    problems += [f"duplicate {key}" for key, n in ids.items() if n > 1]
    for rid in RULES:
        if len(failing[rid]) < 2:
            problems.append(f"coverage: {rid} fails in {len(failing[rid])} case(s), want >= 2")
        if not near[rid]:
            problems.append(f"coverage: {rid} has no passing near-miss case")
    if "--summary" in argv:
        print(f"{len(files)} cases")
        print(f"{'rule_id':34} {'failing':>7} {'near':>5}  LOBs failing")
        for rid in RULES:
            lobs = ", ".join(f"{k}:{v}" for k, v in sorted(Counter(failing[rid]).items()))
            print(f"{rid:34} {len(failing[rid]):>7} {len(near[rid]):>5}  {lobs}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ok: {len(files)} golden cases")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
