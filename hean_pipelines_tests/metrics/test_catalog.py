"""The metric catalog: Prometheus naming, and the README's metric table in step with it."""

from __future__ import annotations

import re

from hean_pipelines.metrics.catalog import METRICS
from hean_pipelines_tests.monitoring.processes import REPO

BASE_UNITS = ("_usd", "_ratio", "_seconds", "_bps")


def test_names_follow_prometheus_conventions() -> None:
    for spec in METRICS:
        assert re.fullmatch(r"hean_[a-z][a-z0-9_]*", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        if spec.unit in ("USD", "ratio", "seconds", "basis points"):
            assert spec.name.endswith(BASE_UNITS) or "_seconds" in spec.name, spec.name
        assert "order_id" not in spec.labels and "exec_id" not in spec.labels and "trade_id" not in spec.labels
        assert spec.help and spec.source, spec.name
    assert len({spec.name for spec in METRICS}) == len(METRICS)


def test_the_readme_documents_every_metric_with_its_type_and_labels() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Observability") : readme.index("## Development")]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(hean_\w+)` \|.*$", section, re.MULTILINE)}
    assert set(rows) == {spec.name for spec in METRICS}
    for spec in METRICS:
        cells = [c.strip() for c in rows[spec.name].strip("|").split("|")]
        assert cells[1] == spec.type, spec.name
        assert cells[2] == (", ".join(f"`{label}`" for label in spec.labels) or "—"), spec.name
