"""The runs table of one experiment: ``/experiments/{experiment_id}``.

The first page is drawn by the server (one runs search, one keys query), so a large experiment
opens as fast as the store answers one page. Everything the table shows (filter, sort, columns,
page size, view and page) lives in the address, so a table can be bookmarked and every link in
it is a plain link; ``runs.js`` adds only selection, compare, delete/restore and expanding
nested runs.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runlab.entities import Experiment, Run, ViewType
from runlab.errors import InvalidParameter, RunlabError
from runlab.search.ast import KeyType
from runlab.search.order_by import parse_run_order_by
from runlab.server.auth.rules import experiment, guarded
from runlab.server.ui.formatting import run_duration
from runlab.server.ui.pages import VIEW_TYPES
from runlab.server.ui.views.compare import MAX_RUNS as COMPARE_MAX_RUNS
from runlab.store.base import ExperimentKeys, ExperimentKeysStore

if TYPE_CHECKING:
    from runlab.server.ui.pages import Pages

#: Page sizes offered; the store's own limit is far above the largest.
PAGE_SIZES = (25, 50, 100, 500)
DEFAULT_PAGE_SIZE = 100
#: Chosen columns shown when the address names none: metrics first, then params.
DEFAULT_COLUMN_COUNT = 8

PARENT_TAG = "mlflow.parentRunId"
SOURCE_TAG = "mlflow.source.name"
NOTE_TAG = "mlflow.note.content"
#: Tags MLflow and runlab set themselves: greyed in the column chooser (defaults hold no tags).
SYSTEM_TAG_PREFIX = "mlflow."

COLUMN_KINDS = ("metrics", "params", "tags")
_KEY_TYPES = {"metrics": KeyType.METRIC, "params": KeyType.PARAM, "tags": KeyType.TAG}
#: Run ids are hex; anything else in a parent tag is not looked up (it goes into a filter).
_RUN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
SOURCE_MAX_CHARS = 32
_WRAP_AFTER = re.compile(r"(?<=[/._-])")


@dataclass(frozen=True)
class Column:
    """A sortable column: a run attribute, or a metric, param or tag chosen by the user."""

    kind: str  # "attributes", "metrics", "params" or "tags"
    key: str
    label: str
    #: The direction of a first click: newest or largest first reads best for times and metrics.
    descending_first: bool = False

    @property
    def ident(self) -> str:
        """How the column is named in the address: ``metrics.acc`` (the key unquoted)."""
        return f"{self.kind}.{self.key}"

    @property
    def label_parts(self) -> list[str]:
        """The label cut after each ``/ . _ -``: the places a long key may wrap in a header."""
        return [part for part in _WRAP_AFTER.split(self.label) if part]

    def order_key(self) -> str:
        """The column as an order_by key; backticks let keys hold dots and spaces."""
        if self.kind == "attributes":
            return f"attributes.{self.key}"
        return f"{self.kind}.`{self.key}`"

    def matches(self, key_type: KeyType, name: str) -> bool:
        """True when a parsed order_by key sorts on this column."""
        wanted = KeyType.ATTRIBUTE if self.kind == "attributes" else _KEY_TYPES[self.kind]
        return key_type is wanted and name == self.key


#: The columns every table has (after the checkbox), in display order.
FIXED_COLUMNS = (
    Column("attributes", "run_name", "Run"),
    Column("attributes", "status", "Status"),
    Column("attributes", "start_time", "Started (UTC)", descending_first=True),
    # Duration is end minus start, which the store cannot sort on, so its header is no link.
    Column("attributes", "user_id", "User"),
    Column("tags", SOURCE_TAG, "Source"),
)


@dataclass(frozen=True)
class TableState:
    """What the address asks for; ``url`` builds the address of a changed state."""

    experiment_id: str
    filter: str = ""
    order_by: tuple[str, ...] = ()
    view: str = "active"
    max_results: int = DEFAULT_PAGE_SIZE
    columns: tuple[str, ...] | None = None  # None: the defaults
    page_token: str = ""
    #: Tokens of the pages before this one (the first page's is ""), for Previous.
    back: tuple[str, ...] = ()

    def query(self, **changes: Any) -> list[tuple[str, str]]:
        """The state (with ``changes``) as query pairs, leaving out defaults to keep links short."""
        s = replace(self, **changes)
        pairs: list[tuple[str, str]] = []
        if s.filter:
            pairs.append(("filter", s.filter))
        pairs += [("order_by", o) for o in s.order_by]
        if s.view != "active":
            pairs.append(("view", s.view))
        if s.max_results != DEFAULT_PAGE_SIZE:
            pairs.append(("max_results", str(s.max_results)))
        if s.columns is not None:
            # An empty value marks "chosen", so choosing no column is not read as the defaults.
            pairs += [("columns", c) for c in s.columns] or [("columns", "")]
        if s.page_token:
            pairs.append(("page_token", s.page_token))
        pairs += [("back", b) for b in s.back]
        return pairs

    def url(self, **changes: Any) -> str:
        """The address of this table with ``changes`` applied."""
        path = f"/experiments/{quote(self.experiment_id, safe='')}"
        pairs = self.query(**changes)
        return f"{path}?{urlencode(pairs)}" if pairs else path


def parse_state(experiment_id: str, request: Request) -> TableState:
    """The table state in the query string; raises InvalidParameter naming a bad value."""
    params = request.query_params
    view = params.get("view", "active")
    if view not in VIEW_TYPES:
        raise InvalidParameter(f"Unknown view {view!r}: choose active, deleted or all.")
    size_text = params.get("max_results", str(DEFAULT_PAGE_SIZE))
    sizes = ", ".join(map(str, PAGE_SIZES))
    if not size_text.isdigit() or int(size_text) not in PAGE_SIZES:
        raise InvalidParameter(f"Page size {size_text!r} is not one of {sizes}.")
    columns: tuple[str, ...] | None = None
    if "columns" in params:
        columns = tuple(dict.fromkeys(c for c in params.getlist("columns") if c))
        for ident in columns:
            kind, dot, key = ident.partition(".")
            if kind not in COLUMN_KINDS or not dot or not key:
                raise InvalidParameter(
                    f"Unknown column {ident!r}: columns are metrics.<key>, params.<key> or "
                    "tags.<key>."
                )
    return TableState(
        experiment_id=experiment_id,
        filter=params.get("filter", "").strip(),
        order_by=tuple(o for o in params.getlist("order_by") if o.strip()),
        view=view,
        max_results=int(size_text),
        columns=columns,
        page_token=params.get("page_token", ""),
        back=tuple(params.getlist("back")),
    )


def default_columns(keys: ExperimentKeys) -> tuple[str, ...]:
    """Metrics, then params, up to :data:`DEFAULT_COLUMN_COUNT`; tags only when chosen."""
    idents = [f"metrics.{k}" for k in keys.metrics] + [f"params.{k}" for k in keys.params]
    return tuple(idents[:DEFAULT_COLUMN_COUNT])


def chosen_columns(idents: Sequence[str]) -> list[Column]:
    """The user's columns from their address names (already validated)."""
    out = []
    for ident in idents:
        kind, _, key = ident.partition(".")
        out.append(Column(kind, key, key, descending_first=kind == "metrics"))
    return out


@dataclass(frozen=True)
class Header:
    """A column header: its label, the link that sorts by it, and its current direction."""

    column: Column
    href: str
    sorted: str | None  # "ascending", "descending" or None (the aria-sort values)
    numeric: bool = False


def headers(state: TableState, columns: Sequence[Column]) -> list[Header]:
    """Headers whose links sort by their column; a sorted column's link flips the direction."""
    try:
        current = parse_run_order_by(list(state.order_by[:1]))
    except InvalidParameter:
        current = ()  # the search reports the malformed order_by; headers just show no sort
    out = []
    for column in columns:
        direction: str | None = None
        if current and column.matches(current[0].key.type, current[0].key.name):
            direction = "ascending" if current[0].ascending else "descending"
        # A sorted column's link flips its direction; another starts at its first direction.
        descending = column.descending_first if direction is None else direction == "ascending"
        order = f"{column.order_key()} {'DESC' if descending else 'ASC'}"
        # Sorting starts again at the first page: the old tokens belong to the old order.
        href = state.url(order_by=(order,), page_token="", back=())
        out.append(Header(column, href, direction, numeric=column.kind == "metrics"))
    return out


@dataclass(frozen=True)
class Cell:
    """One value of a chosen column, ready to print."""

    text: str
    title: str = ""
    numeric: bool = False


@dataclass
class Row:
    """A run in the table, with where it sits among its parent and children."""

    run: Run
    depth: int = 0
    parent_id: str | None = None
    child_count: int = 0
    #: For a child whose parent is not on this page: the parent's name (or short id) to show.
    parent_hint: str | None = None
    parent_hint_id: str | None = None
    cells: list[Cell] = field(default_factory=list)
    duration: str = ""
    source: str = ""
    source_title: str = ""


def duration_text(run: Run, now_ms: int) -> str:
    """End minus start; a run with no end yet shows how long it has been going so far."""
    # The run page formats durations the same way: one function for both pages.
    text, going = run_duration(run, now_ms)
    return f"running for {text}" if going else text


def short_source(source: str) -> tuple[str, str]:
    """The last part of a source path (and the full one, for the tooltip)."""
    if not source:
        return "—", ""
    name = PurePosixPath(source.replace("\\", "/")).name or source
    if len(name) > SOURCE_MAX_CHARS:
        name = name[: SOURCE_MAX_CHARS - 1] + "…"
    return name, source


def cell(run: Run, column: Column) -> Cell:
    """The value of a chosen column for one run: numbers short, the full value in the tooltip."""
    if column.kind == "metrics":
        value = run.data.metrics.get(column.key)
        if value is None:
            return Cell("—", numeric=True)
        return Cell(f"{value:.6g}", repr(value), numeric=True)
    source = run.data.params if column.kind == "params" else run.data.tags
    text = source.get(column.key)
    if text is None:
        return Cell("—")
    return Cell(text, text, numeric=bool(_NUMBER.match(text)))


def nest(runs: Sequence[Run]) -> list[Row]:
    """The page's runs with each child right after its parent when the parent is on the page.

    Order within each level stays the search's order. A parent chain that loops (tags can say
    anything) is cut where it would repeat, so every run appears exactly once.
    """
    by_id = {r.info.run_id: r for r in runs}
    children: dict[str, list[Run]] = {}
    top: list[Run] = []
    for run in runs:
        parent = run.data.tags.get(PARENT_TAG)
        if parent and parent in by_id and parent != run.info.run_id:
            children.setdefault(parent, []).append(run)
        else:
            top.append(run)
    rows: list[Row] = []
    placed: set[str] = set()

    def place(run: Run, depth: int, parent: str | None) -> None:
        run_id = run.info.run_id
        placed.add(run_id)
        kids = [k for k in children.get(run_id, []) if k.info.run_id not in placed]
        rows.append(Row(run, depth=depth, parent_id=parent, child_count=len(kids)))
        for kid in kids:
            if kid.info.run_id not in placed:
                place(kid, depth + 1, run_id)

    for run in top:
        place(run, 0, None)
    # Runs in a parent loop have no top-level ancestor on the page: show them as top rows.
    for run in runs:
        if run.info.run_id not in placed:
            place(run, 0, None)
    return rows


@dataclass
class TablePage:
    """Everything the template needs beyond the state."""

    experiment: Experiment | None = None
    keys: ExperimentKeys = field(default_factory=lambda: ExperimentKeys([], [], []))
    rows: list[Row] = field(default_factory=list)
    next_page_token: str | None = None


class RunsView:
    """The runs page for one app's stores."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def page(self, request: Request) -> Response:
        """The runs table; bad input and store errors are shown in the page with their status."""
        experiment_id = request.path_params["experiment_id"]
        data = TablePage()
        try:
            state = parse_state(experiment_id, request)
        except RunlabError as exc:
            state = TableState(experiment_id)
            return await self._error(state, data, exc, show_experiment=True)
        try:
            data.experiment, data.keys = await run_in_threadpool(self._experiment, experiment_id)
        except RunlabError as exc:
            return await self._error(state, data, exc, show_experiment=False)
        try:
            runs, data.next_page_token = await run_in_threadpool(self._search, state)
            data.rows = await run_in_threadpool(self._rows, state, data, runs)
        except RunlabError as exc:
            return self._render(state, data, exc.message, exc.get_http_status_code())
        return self._render(state, data, None, 200)

    async def _error(
        self, state: TableState, data: TablePage, exc: RunlabError, show_experiment: bool
    ) -> Response:
        if show_experiment:
            # A bad parameter: the experiment's header still helps, if it exists.
            with contextlib.suppress(RunlabError):
                data.experiment, data.keys = await run_in_threadpool(
                    self._experiment, state.experiment_id
                )
        return self._render(state, data, exc.message, exc.get_http_status_code())

    def _experiment(self, experiment_id: str) -> tuple[Experiment, ExperimentKeys]:
        store = self.pages.ctx.tracking_store
        experiment = store.get_experiment(experiment_id)
        keys = (
            store.experiment_keys(experiment_id)
            if isinstance(store, ExperimentKeysStore)
            else ExperimentKeys([], [], [])
        )
        return experiment, keys

    def _search(self, state: TableState) -> tuple[list[Run], str | None]:
        page = self.pages.ctx.tracking_store.search_runs(
            [state.experiment_id],
            filter_string=state.filter or None,
            run_view_type=VIEW_TYPES[state.view],
            max_results=state.max_results,
            order_by=list(state.order_by) or None,
            page_token=state.page_token or None,
        )
        return list(page), page.token

    def _rows(self, state: TableState, data: TablePage, runs: list[Run]) -> list[Row]:
        if not isinstance(self.pages.ctx.tracking_store, ExperimentKeysStore):
            # Without the keys call, offer the keys of the runs on this page.
            data.keys = _keys_of(runs)
        columns = chosen_columns(
            state.columns if state.columns is not None else default_columns(data.keys)
        )
        rows = nest(runs)
        # A run can sit at the top with its parent on the page when their tags form a loop.
        names = {r.run.info.run_id: r.run.info.run_name or r.run.info.run_id[:8] for r in rows}
        names.update(self._parent_names(state.experiment_id, rows))
        now_ms = int(time.time() * 1000)
        for row in rows:
            run = row.run
            parent = run.data.tags.get(PARENT_TAG)
            if row.depth == 0 and parent:
                row.parent_hint = names.get(parent, parent[:8])
                row.parent_hint_id = parent
            row.cells = [cell(run, c) for c in columns]
            row.duration = duration_text(run, now_ms)
            row.source, row.source_title = short_source(run.data.tags.get(SOURCE_TAG, ""))
        return rows

    def _parent_names(self, experiment_id: str, rows: list[Row]) -> dict[str, str]:
        """Names of parents not on the page, in one search (deleted parents too)."""
        on_page = {r.run.info.run_id for r in rows}
        wanted = sorted(
            {
                p
                for r in rows
                if (p := r.run.data.tags.get(PARENT_TAG)) and p not in on_page and _RUN_ID.match(p)
            }
        )
        if not wanted:
            return {}
        listed = ", ".join(f"'{p}'" for p in wanted)
        found = self.pages.ctx.tracking_store.search_runs(
            [experiment_id],
            filter_string=f"attributes.run_id IN ({listed})",
            run_view_type=ViewType.ALL,
            max_results=len(wanted),
        )
        return {r.info.run_id: r.info.run_name or r.info.run_id[:8] for r in found}

    def _render(
        self, state: TableState, data: TablePage, error: str | None, status: int
    ) -> Response:
        columns = chosen_columns(
            state.columns if state.columns is not None else default_columns(data.keys)
        )
        experiment = data.experiment
        context: dict[str, Any] = {
            "nav": "experiments",
            "state": state,
            "experiment": experiment,
            "experiment_id": state.experiment_id,
            # Forms submit here: a GET form drops any query string in its action.
            "path": TableState(state.experiment_id).url(),
            "note": experiment.tags.get(NOTE_TAG) if experiment else None,
            "error": error,
            "status": status,
            "fixed": headers(state, FIXED_COLUMNS),
            "chosen": headers(state, columns),
            "chosen_idents": {c.ident for c in columns},
            "keys": data.keys,
            "rows": data.rows,
            "page_sizes": PAGE_SIZES,
            "views": [("active", "Active"), ("deleted", "Deleted"), ("all", "All")],
            "next_url": (
                state.url(page_token=data.next_page_token, back=(*state.back, state.page_token))
                if data.next_page_token
                else None
            ),
            "previous_url": (
                state.url(page_token=state.back[-1], back=state.back[:-1]) if state.back else None
            ),
            "page_number": len(state.back) + 1,
            "compare_max": COMPARE_MAX_RUNS,  # the Compare button stays within it
            "system_prefix": SYSTEM_TAG_PREFIX,
        }
        return self.pages.render("runs.html", context, status=status)


def _keys_of(runs: Sequence[Run]) -> ExperimentKeys:
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for run in runs:
        params.update(run.data.params)
        metrics.update(run.data.metrics)
        tags.update(run.data.tags)
    return ExperimentKeys(sorted(params), sorted(metrics), sorted(tags))


def routes(pages: Pages) -> list[Route]:
    """The runs table's route."""
    view = RunsView(pages)
    route = Route("/experiments/{experiment_id}", view.page, methods=["GET"], name="ui:runs")
    return [guarded(route, experiment("read"))]
