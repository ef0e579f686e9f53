"""The run page groups a run's system/* metrics (system metrics) into their own charts."""

from __future__ import annotations

import re

from runlab.entities import Metric
from runlab.store.sql.tracking import SqlTrackingStore
from support.asgi_api import Api

START = 1_700_000_000_000


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}".*?</section>', page, re.S)
    assert match, section_id
    return match.group(0)


def _run_with(store: SqlTrackingStore, keys: list[str]) -> str:
    experiment = store.create_experiment("system")
    run_id = store.create_run(experiment, "alice", START, [], "train").info.run_id
    store.log_batch(run_id, metrics=[Metric(k, 1.0, START, 0) for k in keys])
    return run_id


def test_system_metrics_get_their_own_chart_group(api: Api, sqlite_store: SqlTrackingStore) -> None:
    keys = ["acc", "loss", "system/cpu_utilization_percentage", "system/disk_usage_percentage"]
    page = api.get(f"/runs/{_run_with(sqlite_store, keys)}").text
    charts = _section(page, "charts")
    user, system = charts.split('id="system-charts-head"')
    assert re.findall(r'data-metric-key="([^"]+)"', user) == ["acc", "loss"]
    assert re.findall(r'data-metric-key="([^"]+)"', system) == keys[2:]
    assert '<span class="count">2</span>' in system
    # The metrics table links to each chart by its place in the full list.
    for index, key in enumerate(keys, start=1):
        assert f'<a href="#chart-{index}">{key}</a>' in _section(page, "metrics")
        cell = re.search(
            rf'<figure class="chart-cell" id="chart-{index}">.*?</figure>', charts, re.S
        )
        assert cell and f'data-metric-key="{key}"' in cell.group(0)


def test_no_system_group_without_system_metrics(api: Api, sqlite_store: SqlTrackingStore) -> None:
    charts = _section(api.get(f"/runs/{_run_with(sqlite_store, ['loss'])}").text, "charts")
    assert "system-charts" not in charts
    assert charts.count('class="metric-chart" data-metric-key=') == 1


def test_only_system_metrics_show_only_the_system_group(
    api: Api, sqlite_store: SqlTrackingStore
) -> None:
    run_id = _run_with(sqlite_store, ["system/cpu_utilization_percentage"])
    charts = _section(api.get(f"/runs/{run_id}").text, "charts")
    assert charts.count('class="chart-grid"') == 1
    assert 'id="system-charts"' in charts
