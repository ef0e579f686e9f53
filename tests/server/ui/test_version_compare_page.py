"""The version compare page, rendered by the real app over real SQLite stores.

The data is made through the stores as a client would leave it: logged models with metric
points that name their dataset, runs with metrics, versions registered from the logged models.
The page is read back with the standard library's HTML parser through the ``data-`` attributes
the template puts on every cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from runlab.entities import Metric
from runlab.errors import ModelNotFound
from runlab.server.ui.views.version_compare import (
    LOGGED_MODEL_GONE,
    LOGGED_MODEL_HIDDEN,
    MAX_VERSIONS,
    NO_LOGGED_MODEL,
    RUN_DELETED,
    RUN_GONE,
    RUN_HIDDEN,
)
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from server.conftest import make_api
from support.asgi_api import Api
from support.auth_app import SignedInAs, full_app, serve
from support.auth_world import MODEL, World, close_world, make_world

T0 = 1_700_000_000_000
DIGEST = "d1g3st0123456789"
HOLDOUT = "h0ld0ut987654321"


# -- reading the page --------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    value: str | None  # data-value: the exact number, None for "—"
    best: bool


@dataclass
class Row:
    key: str
    differs: bool
    direction: str | None
    cells: dict[str, Cell] = field(default_factory=dict)  # version → cell


@dataclass
class ComparePage:
    versions: list[str] = field(default_factory=list)  # column heads, in order
    fields: dict[str, dict[str, str]] = field(default_factory=dict)  # field → version → text
    links: dict[str, str] = field(default_factory=dict)  # version → source run href
    groups: dict[str, dict[str, Row]] = field(default_factory=dict)  # label → key → row
    group_kinds: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    """Collects the compare table: column heads, the version fields and the metric rows."""

    def __init__(self) -> None:
        super().__init__()
        self.page = ComparePage()
        self._group: str | None = None
        self._field: str | None = None
        self._row: Row | None = None
        self._cell: tuple[str, str | None, bool] | None = None  # version, value, best
        self._head: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._text.append(" ")  # adjacent elements read as separate words
        classes = (a.get("class") or "").split()
        if tag == "tbody" and "data-group" in a:
            self._group = a["data-group"] or ""
            self.page.groups[self._group] = {}
            self.page.group_kinds[self._group] = a.get("data-group-kind") or ""
        elif tag == "tbody":
            self._group = None
        elif tag == "th" and "version-head" in classes:
            self._head = a["data-version"]
            self._text = []
        elif tag == "tr" and "data-field" in a:
            self._field = a["data-field"]
            self.page.fields[self._field or ""] = {}
        elif tag == "tr" and "data-key" in a and self._group is not None:
            self._row = Row(
                key=a["data-key"] or "",
                differs="differs" in classes,
                direction=a.get("data-direction"),
            )
            self.page.groups[self._group][self._row.key] = self._row
        elif tag == "td" and "data-version" in a:
            self._cell = (a["data-version"] or "", a.get("data-value"), "best" in classes)
            self._text = []
        elif tag == "a" and self._field == "run" and self._cell is not None:
            self.page.links[self._cell[0]] = a.get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if tag == "th" and self._head is not None:
            self.page.versions.append(self._head)
            self._head = None
        elif tag == "td" and self._cell is not None:
            version, value, best = self._cell
            if self._row is not None:
                self._row.cells[version] = Cell(text, value, best)
            elif self._field is not None:
                self.page.fields[self._field][version] = text
            self._cell = None
        elif tag == "tr":
            self._row = None
            self._field = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def parse(html: str) -> ComparePage:
    parser = _PageParser()
    parser.feed(html)
    return parser.page


# -- making the data -------------------------------------------------------------------------


@pytest.fixture
def models_api(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> Iterator[Api]:
    yield from make_api(sqlite_store, registry_store=registry)


def _experiment(store: SqlTrackingStore) -> str:
    found = store.get_experiment_by_name("Default")
    assert found is not None
    return found.experiment_id


def _point(
    key: str,
    value: float,
    *,
    step: int = 0,
    dataset: str | None = "test",
    digest: str | None = DIGEST,
    timestamp: int = T0,
) -> Metric:
    return Metric(key, value, timestamp, step, dataset, digest)


def register(
    store: SqlTrackingStore,
    registry: SqlRegistryStore,
    name: str,
    evaluation: list[Metric] | None,
    training: dict[str, float] | None = None,
    run_name: str = "train",
) -> tuple[int, str, str | None]:
    """A run (with ``training`` metrics) that logged a model (with ``evaluation`` points, None:
    no logged model, registered from the run's folder), registered as a new version of ``name``.

    Returns (version, run id, model id)."""
    experiment_id = _experiment(store)
    run = store.create_run(experiment_id, "u", T0, [], run_name)
    run_id = run.info.run_id
    if training:
        store.log_batch(run_id, metrics=[Metric(k, v, T0, 0) for k, v in training.items()])
    try:
        registry.get_registered_model(name)
    except ModelNotFound:
        registry.create_registered_model(name)
    if evaluation is None:
        source = f"{run.info.artifact_uri}/model"
        version = registry.create_model_version(name, source, run_id=run_id)
        return version.version, run_id, None
    logged = store.create_logged_model(experiment_id, name="model", source_run_id=run_id)
    points = [p._replace(model_id=logged.model_id, run_id=run_id) for p in evaluation]
    store.record_logged_model_metrics(logged.model_id, points)
    version = registry.create_model_version(
        name, f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id
    )
    return version.version, run_id, logged.model_id


def compare(api: Api, name: str, *versions: object) -> tuple[int, str]:
    response = api.get(
        f"/models/{quote(name, safe='')}/compare", params=[("versions", str(v)) for v in versions]
    )
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response.status_code, response.text


# -- what the page shows ---------------------------------------------------------------------


def test_evaluation_metrics_are_grouped_by_dataset_with_their_latest_values(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    first, _, _ = register(
        sqlite_store,
        registry,
        "clf",
        [
            # Two points on one dataset: the later step counts, whatever the order given.
            _point("accuracy", 0.91, step=2),
            _point("accuracy", 0.50, step=1),
            _point("log_loss", 0.30, step=2),
            _point("accuracy", 0.70, dataset="holdout", digest=HOLDOUT),
        ],
        {"loss": 0.25},
    )
    second, _, _ = register(
        sqlite_store,
        registry,
        "clf",
        [
            _point("accuracy", 0.80),
            # Same step: the newer timestamp counts.
            _point("log_loss", 0.90, timestamp=T0),
            _point("log_loss", 0.40, timestamp=T0 + 5),
        ],
        {"loss": 0.35},
    )

    status, html = compare(models_api, "clf", first, second)

    assert status == 200
    page = parse(html)
    assert page.versions == ["1", "2"]
    # Each dataset is a group labelled "name (digest[:8])"; the training run comes last.
    assert list(page.groups) == ["holdout (h0ld0ut9)", "test (d1g3st01)", "training run"]
    assert page.group_kinds == {
        "holdout (h0ld0ut9)": "dataset",
        "test (d1g3st01)": "dataset",
        "training run": "run",
    }
    test = page.groups["test (d1g3st01)"]
    assert {v: c.value for v, c in test["accuracy"].cells.items()} == {"1": "0.91", "2": "0.8"}
    assert {v: c.value for v, c in test["log_loss"].cells.items()} == {"1": "0.3", "2": "0.4"}
    holdout = page.groups["holdout (h0ld0ut9)"]["accuracy"]
    assert holdout.cells["1"].value == "0.7"
    assert holdout.cells["2"].value is None and holdout.cells["2"].text == "—"
    run = page.groups["training run"]["loss"]
    assert {v: c.value for v, c in run.cells.items()} == {"1": "0.25", "2": "0.35"}
    assert run.cells["1"].text == "★ best: 0.25" and run.cells["2"].text == "0.35"


def test_the_best_value_is_marked_by_the_metrics_direction_only_where_values_differ(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    values = [
        {"accuracy_score": 0.9, "root_mean_squared_error": 2.0, "example_count": 10.0, "f1": 0.5},
        {"accuracy_score": 0.8, "root_mean_squared_error": 1.5, "example_count": 12.0, "f1": 0.5},
        {"accuracy_score": 0.9, "root_mean_squared_error": 3.0, "example_count": 11.0, "f1": 0.5},
    ]
    numbers = [
        register(sqlite_store, registry, "m", [_point(k, v) for k, v in found.items()])[0]
        for found in values
    ]

    html = compare(models_api, "m", *numbers)[1]
    page = parse(html)

    rows = page.groups["test (d1g3st01)"]
    best = {key: [v for v, c in row.cells.items() if c.best] for key, row in rows.items()}
    # Higher is better: both versions tied at the top are marked.
    assert best["accuracy_score"] == ["1", "3"]
    assert rows["accuracy_score"].direction == "higher"
    # Lower is better.
    assert best["root_mean_squared_error"] == ["2"]
    assert rows["root_mean_squared_error"].direction == "lower"
    # No known direction: differs, but nothing is called best.
    assert best["example_count"] == [] and rows["example_count"].differs
    assert rows["example_count"].direction is None
    # All alike: neither a difference nor a best value.
    assert best["f1"] == [] and not rows["f1"].differs
    assert rows["accuracy_score"].differs and rows["root_mean_squared_error"].differs
    # The mark is seen, not only a class: a star and words for screen readers.
    assert "★" in html_row(html, "root_mean_squared_error")
    assert "best: " in html_row(html, "root_mean_squared_error")
    assert "★" not in html_row(html, "example_count")


def html_row(html: str, key: str) -> str:
    """The markup of the row of ``key`` (for checking the visible marks)."""
    start = html.index(f'data-key="{key}"')
    return html[start : html.index("</tr>", start)]


def test_version_heads_show_stage_aliases_and_a_link_to_the_source_run(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    first, first_run, _ = register(sqlite_store, registry, "clf", [_point("accuracy", 0.9)])
    second, second_run, _ = register(
        sqlite_store, registry, "clf", [_point("accuracy", 0.8)], run_name="second run"
    )
    registry.transition_model_version_stage("clf", first, "Production")
    registry.set_registered_model_alias("clf", "champion", first)
    registry.set_registered_model_alias("clf", "backup", first)

    # Columns follow the order asked for, not the version order.
    page = parse(compare(models_api, "clf", second, first)[1])

    assert page.versions == ["2", "1"]
    assert page.fields["stage"] == {"2": "None", "1": "Production"}
    assert page.fields["aliases"] == {"2": "—", "1": "@backup @champion"}
    assert page.fields["run"] == {"2": "second run", "1": "train"}
    assert page.links == {"2": f"/runs/{second_run}", "1": f"/runs/{first_run}"}
    assert page.fields["notes"] == {"2": "—", "1": "—"}


def test_a_version_without_a_logged_model_shows_dashes_and_says_why(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    with_model, _, _ = register(sqlite_store, registry, "clf", [_point("accuracy", 0.9)], {"a": 1})
    from_run, _, _ = register(sqlite_store, registry, "clf", None, {"a": 2})

    status, html = compare(models_api, "clf", with_model, from_run)

    assert status == 200
    page = parse(html)
    accuracy = page.groups["test (d1g3st01)"]["accuracy"]
    assert accuracy.cells["2"].text == "—" and accuracy.cells["2"].value is None
    assert page.fields["notes"]["2"] == NO_LOGGED_MODEL
    # Its run's metrics are still there.
    assert page.groups["training run"]["a"].cells["2"].value == "2.0"


def test_a_deleted_run_or_logged_model_shows_dashes_and_says_why(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    kept, _, _ = register(sqlite_store, registry, "clf", [_point("accuracy", 0.9)], {"a": 1})
    run_deleted, run_id, _ = register(
        sqlite_store, registry, "clf", [_point("accuracy", 0.8)], {"a": 2}
    )
    model_deleted, _, model_id = register(
        sqlite_store, registry, "clf", [_point("accuracy", 0.7)], {"a": 3}
    )
    sqlite_store.delete_run(run_id)
    assert model_id is not None
    sqlite_store.delete_logged_model(model_id)

    status, html = compare(models_api, "clf", kept, run_deleted, model_deleted)

    assert status == 200
    page = parse(html)
    accuracy = page.groups["test (d1g3st01)"]["accuracy"]
    assert {v: c.value for v, c in accuracy.cells.items()} == {"1": "0.9", "2": "0.8", "3": None}
    training = page.groups["training run"]["a"]
    assert {v: c.value for v, c in training.cells.items()} == {"1": "1.0", "2": None, "3": "3.0"}
    assert training.cells["2"].text == "—"
    assert page.fields["notes"] == {"1": "—", "2": RUN_DELETED, "3": LOGGED_MODEL_GONE}
    assert "2" not in page.links  # a deleted run is not linked


def test_a_source_run_the_tracking_store_lacks_is_noted_not_an_error(
    sqlite_store: SqlTrackingStore, registry: SqlRegistryStore, tmp_path: Path
) -> None:
    # The registry may sit beside another tracking store than the one the runs were made in.
    first, _, _ = register(sqlite_store, registry, "clf", [_point("accuracy", 0.9)], {"a": 1})
    second, _, _ = register(sqlite_store, registry, "clf", [_point("accuracy", 0.8)], {"a": 2})
    other = SqlTrackingStore(f"sqlite:///{tmp_path / 'other.db'}", (tmp_path / "a2").as_uri())
    try:
        for api in make_api(other, registry_store=registry):
            status, html = compare(api, "clf", first, second)
    finally:
        other.close()

    assert status == 200
    page = parse(html)
    assert page.groups == {}
    assert page.fields["notes"]["1"] == f"{LOGGED_MODEL_GONE} {RUN_GONE}"
    assert "None of these versions has metrics to compare." in html


def test_dataset_names_are_escaped(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    # Metric keys are limited to a few characters; a dataset's name is anything its logger chose.
    evil = "<script>alert(1)</script>"
    first, _, _ = register(sqlite_store, registry, "clf", [_point("acc", 1.0, dataset=evil)])
    second, _, _ = register(sqlite_store, registry, "clf", [_point("acc", 2.0, dataset=evil)])

    status, html = compare(models_api, "clf", first, second)

    assert status == 200
    assert evil not in html
    page = parse(html)
    assert list(page.groups) == [f"{evil} (d1g3st01)"]
    assert page.groups[f"{evil} (d1g3st01)"]["acc"].cells["2"].value == "2.0"


def test_a_model_whose_name_needs_quoting_is_compared(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    name = "odd name ? # % 'q'"
    first, _, _ = register(sqlite_store, registry, name, [_point("accuracy", 0.9)])
    second, _, _ = register(sqlite_store, registry, name, [_point("accuracy", 0.8)])

    status, html = compare(models_api, name, first, second)

    assert status == 200
    assert parse(html).groups["test (d1g3st01)"]["accuracy"].cells["1"].value == "0.9"


def test_the_model_page_offers_the_comparison(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    register(sqlite_store, registry, "clf", [_point("accuracy", 0.9)])
    single = models_api.get("/models/clf").text
    # One version has nothing to be compared with.
    assert 'id="compare-versions"' not in single and "pick-version" not in single
    register(sqlite_store, registry, "clf", [_point("accuracy", 0.8)])

    html = models_api.get("/models/clf").text

    assert '<form id="compare-versions" method="get" action="/models/clf/compare"' in html
    for version in (1, 2):
        assert (
            f'<input type="checkbox" class="pick-version" name="versions" value="{version}" '
            'form="compare-versions"'
        ) in html
    assert 'data-min="2" data-max="20"' in html
    assert "/static/version_pick.js?v=" in html


def test_a_model_named_compare_still_has_its_own_page(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    registry.create_registered_model("compare")

    page = models_api.get("/models/compare")

    assert page.status_code == 200
    assert 'data-name="compare"' in page.text


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def two_versions(sqlite_store: SqlTrackingStore, registry: SqlRegistryStore) -> list[int]:
    return [register(sqlite_store, registry, "clf", [_point("accuracy", v)])[0] for v in (0.9, 0.8)]


def _error(html: str) -> str:
    start = html.index('id="page-error">') + len('id="page-error">')
    return html[start : html.index("</p>", start)]


@pytest.mark.parametrize(
    ("versions", "status", "says"),
    [
        ((), 400, "Choose at least 2 different versions to compare (got 0)"),
        ((1,), 400, "Choose at least 2 different versions to compare (got 1)"),
        ((1, 1), 400, "Choose at least 2 different versions to compare (got 1)"),
        ((1, "two"), 400, "&#39;two&#39; is not a version number"),
        ((1, "1.5"), 400, "&#39;1.5&#39; is not a version number"),
        ((1, "-2"), 400, "&#39;-2&#39; is not a version number"),
        ((1, "0"), 400, "&#39;0&#39; is not a version number"),
        ((1, "²"), 400, "is not a version number"),
        ((1, 2, 7), 404, "Registered model &#39;clf&#39; has no version 7"),
        ((9, 1, 8), 404, "has no version 9, 8"),
        (tuple(range(1, MAX_VERSIONS + 2)), 400, "At most 20 versions can be compared at once"),
    ],
)
def test_bad_choices_answer_the_error_page_with_a_4xx(
    models_api: Api,
    two_versions: list[int],
    versions: tuple[object, ...],
    status: int,
    says: str,
) -> None:
    got, html = compare(models_api, "clf", *versions)

    assert got == status
    assert says in _error(html)
    assert 'id="version-metrics"' not in html


def test_an_unknown_model_is_a_404_naming_it(models_api: Api, two_versions: list[int]) -> None:
    status, html = compare(models_api, "nope", 1, 2)

    assert status == 404
    assert "nope" in _error(html)


def test_without_a_registry_the_page_says_so(api: Api) -> None:
    status, html = compare(api, "clf", 1, 2)

    assert status == 404
    assert "This server has no model registry." in _error(html)


def test_twenty_versions_compare(
    models_api: Api, sqlite_store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    numbers = [
        register(sqlite_store, registry, "many", [_point("accuracy", i / 100)])[0]
        for i in range(MAX_VERSIONS)
    ]

    status, html = compare(models_api, "many", *numbers)

    assert status == 200
    row = parse(html).groups["test (d1g3st01)"]["accuracy"]
    assert len(row.cells) == MAX_VERSIONS
    assert [v for v, c in row.cells.items() if c.best] == [str(MAX_VERSIONS)]


# -- permissions -----------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path / "world")
    yield made
    close_world(made)


def _world_versions(world: World) -> None:
    """Two versions of the world's model from logged models in its shared experiment."""
    for value in (0.9, 0.8):
        logged = world.tracking.create_logged_model(
            world.experiment_id, name="m", source_run_id=world.run_id
        )
        world.tracking.record_logged_model_metrics(
            logged.model_id,
            [Metric("accuracy", value, T0, 0, "test", DIGEST, logged.model_id, world.run_id)],
        )
        world.registry.create_model_version(
            MODEL, f"models:/{logged.model_id}", run_id=world.run_id, model_id=logged.model_id
        )


def test_with_auth_read_on_the_model_is_needed(world: World) -> None:
    _world_versions(world)
    url = f"/models/{MODEL}/compare?versions=1&versions=2"
    for client in serve(SignedInAs(full_app(world, auth_enabled=True), world.auth)):
        allowed = client.call("reader", "GET", url)
        refused = client.call("blocked", "GET", url)
        anonymous = client.call(None, "GET", url)

    assert allowed.status_code == 200
    assert parse(allowed.text).groups["test (d1g3st01)"]["accuracy"].cells["1"].value == "0.9"
    # A page refused to a signed-in user says why, as the model page does.
    assert refused.status_code == 403
    assert 'id="page-error"' in refused.text
    assert "0.9" not in refused.text
    # Nobody signed in: sent to the login page, which comes back here.
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


def test_runs_and_logged_models_of_an_experiment_the_viewer_may_not_read_are_hidden(
    world: World,
) -> None:
    _world_versions(world)
    # READ on the model, nothing on the experiment its versions came from.
    world.auth.create_user("modelonly", "pw-modelonly")
    world.auth.create_registered_model_permission(MODEL, "modelonly", "READ")
    world.auth.create_experiment_permission(world.experiment_id, "modelonly", "NO_PERMISSIONS")
    url = f"/models/{MODEL}/compare?versions=1&versions=2"
    for client in serve(SignedInAs(full_app(world, auth_enabled=True), world.auth)):
        response = client.call("modelonly", "GET", url)

    assert response.status_code == 200
    page = parse(response.text)
    assert page.groups == {}
    assert page.fields["notes"]["1"] == f"{LOGGED_MODEL_HIDDEN} {RUN_HIDDEN}"
    assert page.links == {}
    assert "r1" not in page.fields["run"].values()
