"""The metrics are documented as they are: docs/observability.md lists every metric with its type
and labels, and the Grafana dashboard queries only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from wakeful.telemetry.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\| `(wakeful_\w+)` \| (\w+) \|([^|]*)\|")
SUFFIX = {"counter": "_total", "info": "_info"}


def defined() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Exposed name -> (type, labels) of every metric `Metrics` defines."""
    out = {}
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase):
            kind = metric._type
            name = metric._name + SUFFIX.get(kind, "")
            labels = tuple(metric._labelnames)
            if kind == "info":  # its labels are the keys of the information it holds
                [family] = metric.collect()
                labels = tuple(family.samples[0].labels)
            out[name] = ("gauge" if kind == "info" else kind, labels)
    return out


def test_every_metric_and_label_is_documented() -> None:
    documented = {}
    for line in (DOCS / "observability.md").read_text().splitlines():
        if m := ROW.match(line):
            labels = tuple(re.findall(r"`(\w+)`", m[3]))
            documented[m[1]] = (m[2], labels)
    metrics = defined()
    assert "wakeful_build_info" in metrics and "wakeful_runs_total" in metrics
    assert documented == metrics


def test_the_dashboard_queries_every_metric_and_only_those() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\b(wakeful_\w+)", expr)}
    metrics = defined()
    histograms = {n for n, (kind, _) in metrics.items() if kind == "histogram"}
    known = set(metrics) | {h + s for h in histograms for s in ("_bucket", "_count", "_sum")}
    assert used <= known, used - known
    unused = {n for n in metrics if not any(u == n or u.startswith(n + "_") for u in used)}
    assert not unused
