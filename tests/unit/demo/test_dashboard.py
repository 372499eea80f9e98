"""`consumer.demo.dashboard` without a Prometheus: the dashboard file read as panels, Grafana's
variables and legends, and the one-line errors. Drawing from a live Prometheus is tested in
tests/integration/test_prometheus_live.py."""

from __future__ import annotations

import pytest

from consumer.demo.dashboard import (
    Prometheus,
    PrometheusError,
    grafana_variables,
    legend,
    load_panels,
    substitute,
)


def test_every_panel_is_read_with_its_grid_place_and_queries() -> None:
    panels = load_panels()
    assert {p.kind for p in panels} >= {"row", "timeseries", "stat", "bargauge", "table"}
    for panel in panels:
        assert 0 <= panel.x < 24
        assert panel.x + panel.w <= 24
        assert (panel.kind == "row") == (not panel.targets), panel.title


def test_every_query_gets_every_variable_it_names() -> None:
    variables = grafana_variables("infusion-validator", "1m", "15m")
    for panel in load_panels():
        for target in panel.targets:
            expr = substitute(target.expr, variables)
            assert "$" not in expr, (panel.title, expr)


def test_an_unknown_variable_is_an_error_not_a_blank() -> None:
    assert substitute('up{job=~"${job}"}', {"job": "x"}) == 'up{job=~"x"}'
    with pytest.raises(PrometheusError, match=r"\$cluster has no value"):
        substitute('up{cluster=~"$cluster"}', {})


def test_legend_format_like_grafana() -> None:
    labels = {"__name__": "x", "decision": "PENDED", "pod": "p-0"}
    assert legend("{{decision}} on {{ pod }}", labels) == "PENDED on p-0"
    assert legend("", labels) == "decision=PENDED, pod=p-0"
    assert legend("", {}) == "value"


def test_an_unreachable_prometheus_is_one_clear_error() -> None:
    with pytest.raises(PrometheusError, match=r"Prometheus at http://127\.0\.0\.1:9 did not"):
        Prometheus("http://127.0.0.1:9", timeout=2).api("query", query="up")
