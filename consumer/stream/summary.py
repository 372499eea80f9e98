"""The end-of-run summary a person reads after `demo` or `replay`, from the run's own metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from consumer.engine.files import LINES_OF_BUSINESS
from consumer.stream.metrics import DECISIONS


def _samples(registry: CollectorRegistry, family: str, label: str) -> dict[str, float]:
    return {
        sample.labels[label]: sample.value
        for metric in registry.collect()
        if metric.name == family
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value
    }


def describe_run(registry: CollectorRegistry, records: int, seconds: float) -> str:
    """Records and rate; decisions by line of business; pend reasons; dead letters."""
    rate = records / seconds if seconds > 0 else 0.0
    lines = [f"Decided {records:,} records in {seconds:.1f}s ({rate:,.0f} records/s)."]
    for decision in DECISIONS:
        by_lob = {
            lob: registry.get_sample_value(
                "infusion_validator_decisions_total",
                {"decision": decision, "line_of_business": lob},
            )
            or 0.0
            for lob in LINES_OF_BUSINESS
        }
        detail = ", ".join(f"{lob} {n:,.0f}" for lob, n in by_lob.items() if n)
        lines.append(f"  {decision:<9} {sum(by_lob.values()):>9,.0f}   {detail}")
    failures = _samples(registry, "infusion_validator_rule_failures", "rule_id")
    if failures:
        lines.append("  Pend reasons (rule: reasons reported):")
        for rule, count in sorted(failures.items(), key=lambda item: -item[1]):
            lines.append(f"    {rule:<34} {count:>9,.0f}")
    resent = registry.get_sample_value("infusion_validator_duplicate_events_total") or 0.0
    history = {rule: n for rule, n in failures.items() if rule.startswith("history.")}
    lines.append(
        f"  Claim history: {resent:,.0f} re-sent events skipped (the first decision stands)"
        + "".join(
            f"; {rule.removeprefix('history.')} {n:,.0f}" for rule, n in sorted(history.items())
        )
    )
    dead = _samples(registry, "infusion_validator_dlq_records", "error_class")
    lines.append(
        f"  Dead letters: {sum(dead.values()):,.0f}"
        + (" (" + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(dead.items())) + ")" if dead else "")
    )
    return "\n".join(lines)
