"""The rule every route declares: who may call it, and what it needs on which resource.

A rule is data, declared where its route is registered (an
:class:`~runlab.server.endpoint.Endpoint`'s ``rule``, or :func:`guarded` around any other route);
the app factory refuses to build an app with a route that has none (:func:`require_rules`), and
:func:`runlab.server.auth.decision.authorize` is the one place that applies them.

The kinds:

- :data:`PUBLIC`: anyone, without credentials (health, version, static files, the login page).
- :data:`AUTHENTICATED`: any signed-in user (creating an experiment or a model, server info).
  A search is AUTHENTICATED with a *filtered* marker (:func:`filtered_search`) naming what its handler
  must leave out of the results for a caller who may not read it.
- :data:`ADMIN`: administrators only.
- Resource rules, :func:`experiment` and :func:`model`: the caller needs ``read``, ``update``,
  ``delete`` or ``manage`` (MLflow's meanings of the permissions READ, EDIT and MANAGE) on the
  experiments or registered models a :class:`Locator` finds from the request: an experiment id
  or name, a run's experiment, a logged model's experiment, the experiments owning an artifact
  proxy path, a registered model's name. Several requirements may be combined with
  :func:`all_of`; each must hold.

Locators read the request through the same accessors the handlers use (``run_id_of``,
``required_string``), so the permission check and the handler always mean the same resource.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeVar

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from runlab.artifacts.model_sources import names_registered_version
from runlab.errors import InvalidParameter
from runlab.model_uris import parse_models_uri
from runlab.server.request_fields import RequestFields, run_id_of

__all__ = [
    "ADMIN",
    "AUTHENTICATED",
    "EXPERIMENT_ID",
    "EXPERIMENT_IDS",
    "EXPERIMENT_ID_OR_DEFAULT",
    "EXPERIMENT_NAME",
    "LOGGED_MODEL_ID",
    "METRIC_LOGGED_MODELS",
    "MODEL_NAME",
    "OPTIONAL_LOGGED_MODEL_ID",
    "OPTIONAL_RUN_ID",
    "PROXIED_ARTIFACT_PATH",
    "PUBLIC",
    "RUN_ID",
    "SOURCE_MODEL",
    "Access",
    "Effect",
    "Filtered",
    "Locator",
    "Lookups",
    "Need",
    "Requirement",
    "Resource",
    "RouteRule",
    "RouteWithoutRule",
    "Rule",
    "RuleRow",
    "Target",
    "all_of",
    "experiment",
    "filtered_search",
    "guarded",
    "logged_models_in",
    "model",
    "optional_run",
    "query_and_path_fields",
    "require_rules",
    "rule_of",
    "rule_table",
    "run_ids",
    "runs_named_by",
]

Need = Literal["read", "update", "delete", "manage"]
Resource = Literal["experiment", "registered_model"]
#: What a search handler filters: the kinds of result MLflow's searches return.
Filtered = Literal["experiments", "runs", "logged_models", "registered_models", "model_versions"]

NEEDS: tuple[Need, ...] = ("read", "update", "delete", "manage")
#: The weakest permission that grants each need (MLflow's meanings).
LEAST_PERMISSION: dict[str, str] = {
    "read": "READ",
    "update": "EDIT",
    "delete": "MANAGE",
    "manage": "MANAGE",
}
#: Most resources one request may name (run ids of a bulk call, experiments of a datasets
#: search). The handlers allow far fewer; this bounds the lookups made before they are called.
MAX_TARGETS = 1000


class Access(enum.Enum):
    """Who a rule lets in before any resource is looked at."""

    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    ADMIN = "admin"
    RESOURCE = "resource"


class Effect(enum.Enum):
    """What a successful call changes in the permissions (applied after the handler)."""

    GRANT_EXPERIMENT_TO_CREATOR = "its creator gets MANAGE on the new experiment"
    GRANT_MODEL_TO_CREATOR = "its creator gets MANAGE on the new registered model"
    MOVE_MODEL_PERMISSIONS = "the model's permissions move to its new name"
    DROP_MODEL_PERMISSIONS = "the model's permissions are deleted with it"


@dataclass(frozen=True, slots=True)
class Target:
    """One resource a request names.

    ``described`` says it the way the request named it ("run 'abc'"), never by what it resolved
    to, so a refusal tells the caller nothing they did not send. ``resource_ids`` are the
    experiment ids (as the store spells them) or registered-model names the permission is
    checked on; ``found`` is False when the request names nothing that exists.
    """

    described: str
    resource_ids: tuple[str, ...]
    found: bool = True


class Lookups(Protocol):
    """What locators may ask the stores (implemented by the decision point's context)."""

    def experiment_id(self, experiment_id: str) -> str | None:
        """The id as the store spells it ("03" names experiment "3"), or None if none."""
        ...

    def experiment_id_by_name(self, name: str) -> str | None:
        """The id of the experiment called ``name``, or None."""
        ...

    def experiment_of_run(self, run_id: str) -> str | None:
        """The experiment a run belongs to, or None if there is no such run."""
        ...

    def experiment_of_logged_model(self, model_id: str) -> str | None:
        """The experiment a logged model belongs to, or None if there is no such model."""
        ...

    def experiments_owning_artifact_path(self, path: str) -> tuple[str, ...]:
        """The experiments whose artifact folders behind the proxy contain ``path``."""
        ...


LocateFunction = Callable[[Lookups, RequestFields], list[Target]]


@dataclass(frozen=True, slots=True)
class Locator:
    """Finds the resources a request is about.

    ``description`` names the request field(s) for the docs ("the run's experiment (run_id)").
    ``hides_missing`` is True where a caller should not learn whether an id exists: a
    non-administrator naming nothing that exists is refused exactly like one naming something
    they may not use. Names (of experiments, of registered models) are not secret, since
    creating one reveals whether it is taken, so a missing name is left to the handler's 404.
    """

    resource: Resource
    description: str
    locate: LocateFunction
    hides_missing: bool = True


@dataclass(frozen=True, slots=True)
class Requirement:
    """The caller needs ``need`` on every resource ``locator`` finds."""

    need: Need
    locator: Locator

    def describe(self) -> str:
        return f"{self.need} on {self.locator.description}"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call a route (see the module docstring for the kinds)."""

    access: Access
    requirements: tuple[Requirement, ...] = ()
    #: For a search: what its handler must filter to what the caller may read.
    filtered: Filtered | None = None
    effects: tuple[Effect, ...] = ()

    def describe(self) -> str:
        """One line for the docs: who may call, on what."""
        if self.access is Access.PUBLIC:
            text = "anyone, without signing in"
        elif self.access is Access.ADMIN:
            text = "administrators only"
        elif self.access is Access.AUTHENTICATED:
            text = "any signed-in user"
            if self.filtered is not None:
                text += f"; results hold only the {self.filtered.replace('_', ' ')} they may read"
        else:
            text = " and ".join(r.describe() for r in self.requirements)
        for effect in self.effects:
            text += f"; {effect.value}"
        return text

    def least_permission(self) -> str:
        """The weakest permission that passes: READ/EDIT/MANAGE, or who else may call it."""
        if self.access is Access.PUBLIC:
            return "anyone"
        if self.access is Access.ADMIN:
            return "admin"
        if self.access is Access.AUTHENTICATED:
            return "signed-in"
        order = ("READ", "EDIT", "MANAGE")
        return max((LEAST_PERMISSION[r.need] for r in self.requirements), key=order.index)

    def with_effects(self, *effects: Effect) -> Rule:
        """This rule, with permission changes applied after a successful call."""
        return replace(self, effects=(*self.effects, *effects))


PUBLIC = Rule(Access.PUBLIC)
AUTHENTICATED = Rule(Access.AUTHENTICATED)
ADMIN = Rule(Access.ADMIN)


def _check_need(need: str) -> Need:
    if need not in NEEDS:
        raise ValueError(f"Unknown need {need!r}: use one of {', '.join(NEEDS)}.")
    return need


def experiment(need: Need, locator: Locator | None = None) -> Rule:
    """The caller needs ``need`` on the experiment(s) ``locator`` finds (default: by id)."""
    locator = locator or EXPERIMENT_ID
    if locator.resource != "experiment":
        raise ValueError(f"{locator.description} finds a {locator.resource}, not an experiment.")
    return Rule(Access.RESOURCE, (Requirement(_check_need(need), locator),))


def model(need: Need, locator: Locator | None = None) -> Rule:
    """The caller needs ``need`` on the registered model ``locator`` finds (default: ``name``)."""
    locator = locator or MODEL_NAME
    if locator.resource != "registered_model":
        raise ValueError(f"{locator.description} finds an {locator.resource}, not a model.")
    return Rule(Access.RESOURCE, (Requirement(_check_need(need), locator),))


def filtered_search(filtered: Filtered) -> Rule:
    """Any signed-in user; the handler must leave out what the caller may not read."""
    return Rule(Access.AUTHENTICATED, filtered=filtered)


def all_of(*rules: Rule) -> Rule:
    """Every requirement of every (resource) rule must hold."""
    if not rules or any(r.access is not Access.RESOURCE for r in rules):
        raise ValueError("all_of combines resource rules (experiment(...), model(...)) only.")
    return Rule(
        Access.RESOURCE,
        tuple(req for r in rules for req in r.requirements),
        effects=tuple(e for r in rules for e in r.effects),
    )


# -- locators --------------------------------------------------------------------------------------


def _experiment_target(lookups: Lookups, experiment_id: str) -> Target:
    canonical = lookups.experiment_id(experiment_id)
    described = f"experiment {experiment_id!r}"
    return (
        Target(described, (canonical,)) if canonical is not None else Target(described, (), False)
    )


def _run_target(lookups: Lookups, run_id: str) -> Target:
    owner = lookups.experiment_of_run(run_id)
    return Target(f"run {run_id!r}", (owner,) if owner is not None else (), owner is not None)


def _logged_model_target(lookups: Lookups, model_id: str) -> Target:
    owner = lookups.experiment_of_logged_model(model_id)
    described = f"logged model {model_id!r}"
    return Target(described, (owner,) if owner is not None else (), owner is not None)


def _distinct(values: Iterable[str], field: str) -> list[str]:
    out = list(dict.fromkeys(values))
    if len(out) > MAX_TARGETS:
        raise InvalidParameter(
            f"Field '{field}' names {len(out)} different values; at most {MAX_TARGETS} are allowed."
        )
    return out


EXPERIMENT_ID = Locator(
    "experiment",
    "the experiment (experiment_id)",
    lambda lookups, f: [_experiment_target(lookups, f.required_string("experiment_id"))],
)
#: runs/create: a run without an experiment goes to the Default experiment ("0").
EXPERIMENT_ID_OR_DEFAULT = Locator(
    "experiment",
    "the experiment (experiment_id, else the Default experiment)",
    lambda lookups, f: [_experiment_target(lookups, f.string("experiment_id") or "0")],
)
EXPERIMENT_IDS = Locator(
    "experiment",
    "every experiment named (experiment_ids)",
    lambda lookups, f: [
        _experiment_target(lookups, experiment_id)
        for experiment_id in _distinct(f.string_list("experiment_ids"), "experiment_ids")
    ],
)


def _by_name(lookups: Lookups, f: RequestFields) -> list[Target]:
    name = f.required_string("experiment_name")
    found = lookups.experiment_id_by_name(name)
    return [Target(f"experiment {name!r}", (found,) if found else (), found is not None)]


EXPERIMENT_NAME = Locator(
    "experiment", "the experiment (experiment_name)", _by_name, hides_missing=False
)
RUN_ID = Locator(
    "experiment",
    "the run's experiment (run_id)",
    lambda lookups, f: [_run_target(lookups, run_id_of(f))],
)


def optional_run(field: str) -> Locator:
    """The experiment of the run in ``field``, when the request gives one."""

    def locate(lookups: Lookups, f: RequestFields) -> list[Target]:
        run_id = f.string(field)
        return [_run_target(lookups, run_id)] if run_id else []

    return Locator("experiment", f"the run's experiment ({field}, when given)", locate)


#: model-versions/create: the run a version comes from, when it names one.
OPTIONAL_RUN_ID = optional_run("run_id")


def runs_named_by(
    description: str, run_ids_of: Callable[[RequestFields], Iterable[str]]
) -> Locator:
    """The experiments of every run ``run_ids_of`` reads from a request (``description`` names
    the field for the docs)."""

    def locate(lookups: Lookups, f: RequestFields) -> list[Target]:
        return [_run_target(lookups, run_id) for run_id in _distinct(run_ids_of(f), description)]

    return Locator("experiment", f"the experiment of every run ({description})", locate)


def run_ids(field: str) -> Locator:
    """The experiments of every run a repeated field names (the bulk metric calls)."""
    return runs_named_by(field, lambda f: f.string_list(field))


LOGGED_MODEL_ID = Locator(
    "experiment",
    "the logged model's experiment (model_id)",
    lambda lookups, f: [_logged_model_target(lookups, f.required_string("model_id"))],
)
OPTIONAL_LOGGED_MODEL_ID = Locator(
    "experiment",
    "the logged model's experiment (model_id, when given)",
    lambda lookups, f: (
        [_logged_model_target(lookups, model_id)] if (model_id := f.string("model_id")) else []
    ),
)


def logged_models_in(field: str) -> Locator:
    """The experiments of the logged models a list of ``{model_id}`` objects names."""

    def locate(lookups: Lookups, f: RequestFields) -> list[Target]:
        ids = (item.string("model_id") for item in f.object_list(field))
        return [
            _logged_model_target(lookups, model_id)
            for model_id in _distinct((i for i in ids if i), f"{field}[].model_id")
        ]

    return Locator("experiment", f"the experiment of every logged model ({field})", locate)


def _metric_models(lookups: Lookups, f: RequestFields) -> list[Target]:
    # A log-batch's metrics are read in bulk by its handler; this only collects the model ids
    # they name (in either spelling), so a batch without any costs one pass over the list.
    metrics = f.raw().get("metrics")
    if not isinstance(metrics, list):  # absent, or columns (log_batch_body): no model ids
        return []
    ids = [
        value
        for item in metrics
        if isinstance(item, dict)
        for value in (item.get("model_id"), item.get("modelId"))
        if value and isinstance(value, str)
    ]
    return [_logged_model_target(lookups, i) for i in _distinct(ids, "metrics[].model_id")]


#: runs/log-batch: a metric that names a logged model is stored on that model too.
METRIC_LOGGED_MODELS = Locator(
    "experiment", "the experiment of every logged model its metrics name", _metric_models
)


def _artifact_path(lookups: Lookups, f: RequestFields) -> list[Target]:
    path = f.string("artifact_path") or ""
    owners = lookups.experiments_owning_artifact_path(path)
    return [Target(f"artifact path {path!r}", owners, bool(owners))]


#: The artifact proxy: the request's (validated) path arrives as the ``artifact_path`` field,
#: put there by the proxy's own path parser. A path no experiment owns is for administrators.
PROXIED_ARTIFACT_PATH = Locator(
    "experiment", "the experiment(s) owning the artifact path", _artifact_path
)


#: Registered-model permissions are kept by name, so no lookup is needed.
def _model_name(lookups: Lookups, f: RequestFields) -> list[Target]:
    name = f.required_string("name")
    return [Target(f"registered model {name!r}", (name,))]


MODEL_NAME = Locator(
    "registered_model", "the registered model (name)", _model_name, hides_missing=False
)


def _source_model(lookups: Lookups, f: RequestFields) -> list[Target]:
    source = f.string("source")
    if not source or not names_registered_version(source):
        return []
    name = parse_models_uri(source).name
    return [Target(f"registered model {name!r}", (name,))] if name else []


#: model-versions/create from ``models:/<name>/<version>``: a copy of another model's version.
SOURCE_MODEL = Locator(
    "registered_model",
    "the registered model a models:/ source copies (source)",
    _source_model,
    hides_missing=False,
)


# -- declaring a route's rule ----------------------------------------------------------------------

FieldsOf = Callable[[Request], RequestFields]
R = TypeVar("R", bound=BaseRoute)
_ATTRIBUTE = "runlab_auth_rule"


def query_and_path_fields(request: Request) -> RequestFields:
    """A request's query string and path parameters as fields (never its body).

    What a plain route's locator reads: the check runs before the handler, and must leave the
    body (an upload's stream) to it.
    """
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    fields = RequestFields(query, from_query=True)
    return fields.with_values(request.path_params) if request.path_params else fields


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A route's rule, and how its locators get their fields.

    ``fields_of`` is None for routes whose handler applies the rule itself, on the fields it
    decodes anyway (:func:`runlab.server.endpoint.make_route`); the app factory wraps every
    other route so the rule is applied before its handler runs.
    """

    rule: Rule
    fields_of: FieldsOf | None


def guarded(route: R, rule: Rule, fields_of: FieldsOf | None = query_and_path_fields) -> R:
    """``route``, declaring ``rule``. ``fields_of`` builds the fields the rule's locators read
    (default: the query string and path parameters); None means the handler applies the rule."""
    setattr(route, _ATTRIBUTE, RouteRule(rule, fields_of))
    return route


def rule_of(route: BaseRoute) -> RouteRule | None:
    """The rule ``route`` declared with :func:`guarded`, or None."""
    declared = getattr(route, _ATTRIBUTE, None)
    return declared if isinstance(declared, RouteRule) else None


def describe_route(route: BaseRoute) -> str:
    """``"GET, POST /path"`` (or the route's repr for a route without a path)."""
    path = getattr(route, "path", None)
    if path is None:
        return repr(route)
    methods = sorted(m for m in getattr(route, "methods", None) or () if m != "HEAD")
    return f"{', '.join(methods) or 'ANY'} {path}"


class RouteWithoutRule(RuntimeError):
    """An app was built with routes that declare no permission rule (a programming error)."""


def require_rules(routes: Sequence[BaseRoute]) -> None:
    """Raise :class:`RouteWithoutRule` naming every route in ``routes`` without a rule."""
    missing = [describe_route(route) for route in routes if rule_of(route) is None]
    if missing:
        raise RouteWithoutRule(
            "Every route must declare who may call it, and these do not: "
            + "; ".join(missing)
            + ". Give an Endpoint its rule=..., or wrap the route in "
            "runlab.server.auth.rules.guarded(route, rule)."
        )


# -- the table for the docs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One row of "what each permission can do": a route and method, and its rule."""

    path: str
    method: str
    #: The weakest permission that may call it (READ, EDIT, MANAGE), or anyone / signed-in /
    #: admin.
    permission: str
    rule: str


def rule_table(routes: Iterable[BaseRoute]) -> list[RuleRow]:
    """A row per route and method of an app (``app.routes``), in the app's order.

    Raises :class:`RouteWithoutRule` for a route without a rule, like the app factory.
    """
    rows: list[RuleRow] = []
    for route in routes:
        declared = rule_of(route)
        if declared is None:
            raise RouteWithoutRule(f"{describe_route(route)} declares no rule.")
        path = route.path if isinstance(route, Route) else describe_route(route)
        methods = sorted(m for m in getattr(route, "methods", None) or () if m != "HEAD")
        for method in methods or ["ANY"]:
            rows.append(
                RuleRow(path, method, declared.rule.least_permission(), declared.rule.describe())
            )
    return rows
