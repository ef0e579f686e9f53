"""The permission matrix: every route of an authenticating server, called by every kind of caller.

For each route and method the server serves there is a :class:`RouteSpec` here: the weakest
access it needs, written down independently of the rule the route declares, and a builder of a
well-formed request that names a :class:`Scene`'s resources. :func:`run_matrix` calls each
route as each :data:`COLUMNS` caller and compares the status with the one :func:`expected`
derives: 200 (or the route's normal answer, ``RouteSpec.ok``), 401 or 403.

A scene is a set of fresh resources (an experiment with a run, a logged model and an artifact, a
registered model with a version, a throwaway user...) on which each matrix user has the
permission their column names. Resources are created on first use, through the stores, so a
scene costs only what its requests name; a new scene is made after every call that was let
through and may have changed something (any method but GET), so every permitted call starts
from the same state. A refused call must change nothing, so refused callers share a scene.

A :class:`GhostScene` names resources that do not exist: an anonymous caller (or one whose
credentials are refused) must get the very same answer for it as for the real scene, so that a
401 or 403 never tells whether a user, experiment, run or model exists; so must a user with
NO_PERMISSIONS, except for resources named by name (names are no secret: creating one tells
whether it is taken).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

from runlab.entities import Metric, RunTag
from runlab.entities.auth import EDIT, MANAGE, NO_PERMISSIONS, READ
from runlab.server.errors import is_api_path
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore
from support.auth_server import ADMIN, ADMIN_PASSWORD

Level = Literal["PUBLIC", "SIGNED_IN", "ADMIN", "READ", "EDIT", "MANAGE"]
Credentials = Literal["good", "none", "bad password", "expired token"]

#: The password of every matrix user but the administrator.
PASSWORD = "matrix-password-1"
#: Each matrix user's permission on a scene's experiment and registered model.
GRANTS = {"manager": MANAGE, "editor": EDIT, "reader": READ, "blocked": NO_PERMISSIONS}
#: Owns the resources "another user's resource" is about (their account, their tokens).
OWNER = "owner"
#: The server's default permission while the matrix runs (``runlab server``'s default).
DEFAULT_PERMISSION = READ
_RANK = {NO_PERMISSIONS: 0, READ: 1, EDIT: 2, MANAGE: 3}


@dataclass(frozen=True)
class Column:
    """One kind of caller: who they are and what they hold on a scene's resources."""

    title: str
    #: The account the request is made as (None: anonymous).
    user: str | None
    credentials: Credentials = "good"
    #: Their permission on a scene's experiment and model; None: the server's default.
    permission: str | None = None
    is_admin: bool = False
    #: Acting on resources of another user (for account routes: the OWNER's account).
    others: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("anonymous", None, "none"),
    Column("bad password", "reader", "bad password"),
    Column("expired token", "reader", "expired token"),
    Column("NO_PERMISSIONS", "blocked", permission=NO_PERMISSIONS),
    Column("another user's resource", "bystander", others=True),
    Column("READ", "reader", permission=READ),
    Column("EDIT", "editor", permission=EDIT),
    Column("MANAGE", "manager", permission=MANAGE),
    Column("admin", ADMIN, is_admin=True),
)


# -- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request; ``path`` may carry a query string."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    content: bytes | None = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def with_prefix(self, ajax: bool) -> Call:
        """The same call under ``/ajax-api`` instead of ``/api`` (both serve the endpoint)."""
        if not ajax or not self.path.startswith("/api/"):
            return self
        return replace(self, path="/ajax-api/" + self.path[len("/api/") :])


def mlflow(method: str, endpoint: str, **fields: Any) -> Call:
    """An MLflow endpoint called as its client does: query for GET, a JSON body otherwise."""
    path = f"/api/2.0/mlflow/{endpoint}"
    return Call(method, path, params=fields) if method == "GET" else Call(method, path, json=fields)


def runlab(method: str, endpoint: str, **fields: Any) -> Call:
    """One of runlab's own endpoints (``/api/2.0/runlab``)."""
    path = f"/api/2.0/runlab/{endpoint}"
    return Call(method, path, params=fields) if method == "GET" else Call(method, path, json=fields)


# -- scenes ----------------------------------------------------------------------------------------


#: Gives a user a permission: ("experiment" or "registered_model", id or name, user, permission).
Grant = Callable[[str, str, str, str], None]


@dataclass
class Stores:
    """The server's stores, opened by the test on the server's own databases."""

    tracking: SqlTrackingStore
    registry: SqlRegistryStore
    auth: SqlAuthStore
    #: The artifact proxy's storage folder (``--artifacts-destination``).
    destination: Path
    #: How :meth:`give` gives a permission (default: through the auth store). A server
    #: remembers users' permissions for a few seconds, except that it forgets them when one
    #: changes through its own API, which is why a test may give them through the API.
    grant: Grant | None = None

    def give(self, kind: str, resource: str, username: str, permission: str) -> None:
        """Give ``username`` ``permission`` on an experiment or registered model."""
        if self.grant is not None:
            self.grant(kind, resource, username, permission)
        elif kind == "experiment":
            self.auth.create_experiment_permission(resource, username, permission)
        else:
            self.auth.create_registered_model_permission(resource, username, permission)

    def proxied_file(self, location: str, name: str, content: bytes) -> str:
        """Write ``name`` under a ``mlflow-artifacts:/`` location; its path behind the proxy."""
        relative = unquote(urlsplit(location).path).strip("/")
        target = self.destination / relative / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return f"{relative}/{name}"


class SceneLike(Protocol):
    """What request builders read (a :class:`Scene` or a :class:`GhostScene`)."""

    @property
    def experiment_id(self) -> str: ...
    @property
    def experiment_name(self) -> str: ...
    @property
    def deleted_experiment_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def second_run_id(self) -> str: ...
    @property
    def deleted_run_id(self) -> str: ...
    @property
    def logged_model_id(self) -> str: ...
    @property
    def logged_model_file(self) -> str: ...
    @property
    def artifact(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def second_version(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def grantee(self) -> str: ...

    def unique(self, label: str) -> str: ...
    def token_of(self, username: str) -> int: ...


_NUMBERS = itertools.count(1)


def password_of(username: str) -> str:
    """The password of a matrix user."""
    return ADMIN_PASSWORD if username == ADMIN else PASSWORD


class Scene:
    """Fresh resources, each created on first use, with the matrix users' permissions.

    The experiment holds a run (with metric ``loss``, tag ``t`` and file ``notes.txt``), a
    second run, a logged model (with tag ``k`` and file ``model.txt``) and a tag ``t``; the
    registered model has version 1 from the run (with tag ``k`` and alias ``champion``), version 2
    from the second run when a request asks for it, and a tag ``t``.
    """

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.number = next(_NUMBERS)

    def unique(self, label: str) -> str:
        """A name used nowhere else in the matrix."""
        return f"{label}-{self.number}-{next(_NUMBERS)}"

    def _grant(self, kind: str, resource: str) -> None:
        auth = self.stores.auth
        for username, permission in GRANTS.items():
            if kind == "experiment":
                auth.create_experiment_permission(resource, username, permission)
            else:
                auth.create_registered_model_permission(resource, username, permission)
        # Another user owns it (as its creator would): the bystander has nothing on it. Given
        # last, and through the server when the test has one, so the server forgets what it
        # remembered of everyone's permissions and sees the ones above at once.
        self.stores.give(kind, resource, OWNER, MANAGE)

    @cached_property
    def experiment_name(self) -> str:
        return self.unique("matrix")

    @cached_property
    def experiment_id(self) -> str:
        tracking = self.stores.tracking
        experiment_id = tracking.create_experiment(self.experiment_name, tags=[("t", "v")])
        self._grant("experiment", experiment_id)
        return experiment_id

    @cached_property
    def deleted_experiment_id(self) -> str:
        tracking = self.stores.tracking
        experiment_id = tracking.create_experiment(self.unique("deleted"))
        self._grant("experiment", experiment_id)
        tracking.delete_experiment(experiment_id)
        return experiment_id

    def _new_run(self, name: str) -> str:
        tracking = self.stores.tracking
        run = tracking.create_run(self.experiment_id, OWNER, int(time.time() * 1000), [], name)
        return run.info.run_id

    @cached_property
    def run_id(self) -> str:
        tracking = self.stores.tracking
        run_id = self._new_run("run")
        tracking.log_batch(run_id, metrics=[Metric("loss", 0.5, 1, 0)], tags=[RunTag("t", "v")])
        self.stores.proxied_file(tracking.get_run(run_id).info.artifact_uri, "notes.txt", b"hi")
        return run_id

    @cached_property
    def second_run_id(self) -> str:
        return self._new_run("second")

    @cached_property
    def deleted_run_id(self) -> str:
        run_id = self._new_run("deleted")
        self.stores.tracking.delete_run(run_id)
        return run_id

    @cached_property
    def artifact(self) -> str:
        """A file of the run behind the artifact proxy (a path under the destination)."""
        run = self.stores.tracking.get_run(self.run_id)
        return f"{unquote(urlsplit(run.info.artifact_uri).path).strip('/')}/notes.txt"

    @cached_property
    def logged_model_id(self) -> str:
        tracking = self.stores.tracking
        made = tracking.create_logged_model(self.experiment_id, name="lm", tags={"k": "v"})
        return made.model_id

    @cached_property
    def logged_model_file(self) -> str:
        made = self.stores.tracking.get_logged_model(self.logged_model_id)
        self.stores.proxied_file(made.artifact_location, "model.txt", b"weights")
        return "model.txt"

    @cached_property
    def model(self) -> str:
        registry = self.stores.registry
        name = self.unique("model")
        registry.create_registered_model(name, tags={"t": "v"})
        self._grant("registered_model", name)
        registry.create_model_version(
            name, f"runs:/{self.run_id}/model", run_id=self.run_id, tags={"k": "v"}
        )
        registry.set_registered_model_alias(name, "champion", 1)
        return name

    @cached_property
    def second_version(self) -> str:
        """Version 2 of the registered model, from the second run (made on first use)."""
        version = self.stores.registry.create_model_version(
            self.model, f"runs:/{self.second_run_id}/model", run_id=self.second_run_id
        )
        return str(version.version)

    @cached_property
    def user(self) -> str:
        """A user nobody in the matrix is (to be changed or deleted)."""
        name = self.unique("someone")
        self.stores.auth.create_user(name, PASSWORD)
        return name

    @cached_property
    def grantee(self) -> str:
        """A user with permissions of their own on the scene's experiment and model."""
        name = self.unique("grantee")
        auth = self.stores.auth
        auth.create_user(name, PASSWORD)
        auth.create_experiment_permission(self.experiment_id, name, READ)
        auth.create_registered_model_permission(self.model, name, READ)
        return name

    def token_of(self, username: str) -> int:
        """The id of a new access token of ``username``."""
        token, _secret = self.stores.auth.create_token(username, self.unique("token"), None)
        return token.id


class GhostScene:
    """The same names as a scene, none of which exists (ids of the right shape)."""

    experiment_id = "987654321"
    experiment_name = "no-such-experiment"
    deleted_experiment_id = "987654322"
    run_id = "0123456789abcdef0123456789abcdef"
    second_run_id = "fedcba9876543210fedcba9876543210"
    deleted_run_id = "00112233445566778899aabbccddeeff"
    logged_model_id = "m-0123456789abcdef0123456789abcdef"
    logged_model_file = "model.txt"
    artifact = f"987654321/{run_id}/artifacts/notes.txt"
    model = "no-such-model"
    second_version = "2"
    user = "no-such-user"
    grantee = "no-such-grantee"

    def unique(self, label: str) -> str:
        return f"{label}-ghost"

    def token_of(self, username: str) -> int:
        return 987654


# -- the routes ------------------------------------------------------------------------------------

#: (scene, the user the request is about) -> the request. The user is the caller's own name,
#: or OWNER for "another user's resource".
Build = Callable[[SceneLike, str], Call]


@dataclass(frozen=True)
class RouteSpec:
    """What a route needs, and a well-formed request for it."""

    level: Level
    build: Build
    #: The answer to a permitted call on a fresh scene (200 unless the route answers otherwise
    #: for this server, e.g. 501 for S3-only calls on a local artifact store).
    ok: frozenset[int] = frozenset({200})
    #: For routes about the caller's own account: the status "another user's resource" gets.
    #: None: the scene's resources decide, with the server's default permission.
    others: int | None = None
    #: A page of the web UI (GET): an anonymous visitor is sent to the login page.
    page: bool = False

    @property
    def changes(self) -> bool:
        """Whether a permitted call may change the scene (then the next one gets a new one)."""
        return self.build(GhostScene(), OWNER).method != "GET"


def _spec(level: Level, build: Build, *ok: int, others: int | None = None) -> RouteSpec:
    return RouteSpec(level, build, frozenset(ok or (200,)), others)


def _page(level: Level, build: Build) -> RouteSpec:
    return RouteSpec(level, build, frozenset({200}), page=True)


_LOG_MODEL = json.dumps(
    {"artifact_path": "model", "flavors": {}, "utc_time_created": "2024-01-01", "run_id": "x"}
)
_DATASET = {
    "dataset": {"name": "d", "digest": "abc", "source_type": "local", "source": "/tmp/d"},
    "tags": [],
}
_PROXY = "/api/2.0/mlflow-artifacts"


def _multipart(kind: str, in_folder: bool) -> RouteSpec:
    """A multipart-upload call (S3 only: a local store answers 501 to whoever may make it).

    The file goes into the folder the path names: the run's artifact folder, whose experiment
    decides, or without a path the destination's root, which is for administrators only.
    """

    def build(s: SceneLike, u: str) -> Call:
        folder = f"/{s.artifact.rpartition('/')[0]}" if in_folder else ""
        body = {
            "path": "big.bin",
            "num_parts": 1,
            "upload_id": "u",
            "parts": [{"part_number": 1, "etag": "e"}],
        }
        return Call("POST", f"{_PROXY}/mpu/{kind}{folder}", json=body)

    return _spec("EDIT" if in_folder else "ADMIN", build, 501)


def _plotly_version() -> str:
    """The Plotly.js version the server ships (the same installation as this process)."""
    from runlab.server.ui.assets import load_assets

    return load_assets().plotly_version or "missing"


#: Keyed by (path as the app declares it, with /ajax-api spelt /api; method).
SPECS: dict[tuple[str, str], RouteSpec] = {
    # -- experiments
    ("/api/2.0/mlflow/experiments/create", "POST"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("POST", "experiments/create", name=s.unique("new"))
    ),
    ("/api/2.0/mlflow/experiments/get", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "experiments/get", experiment_id=s.experiment_id)
    ),
    ("/api/2.0/mlflow/experiments/get-by-name", "GET"): _spec(
        "READ",
        lambda s, u: mlflow("GET", "experiments/get-by-name", experiment_name=s.experiment_name),
    ),
    ("/api/2.0/mlflow/experiments/search", "POST"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("POST", "experiments/search", max_results=5)
    ),
    ("/api/2.0/mlflow/experiments/search", "GET"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("GET", "experiments/search", max_results=5)
    ),
    ("/api/2.0/mlflow/experiments/delete", "POST"): _spec(
        "MANAGE", lambda s, u: mlflow("POST", "experiments/delete", experiment_id=s.experiment_id)
    ),
    ("/api/2.0/mlflow/experiments/restore", "POST"): _spec(
        "MANAGE",
        lambda s, u: mlflow("POST", "experiments/restore", experiment_id=s.deleted_experiment_id),
    ),
    ("/api/2.0/mlflow/experiments/update", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "experiments/update", experiment_id=s.experiment_id, new_name=s.unique("re")
        ),
    ),
    ("/api/2.0/mlflow/experiments/set-experiment-tag", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST",
            "experiments/set-experiment-tag",
            experiment_id=s.experiment_id,
            key="k",
            value="v",
        ),
    ),
    ("/api/2.0/mlflow/experiments/delete-experiment-tag", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "experiments/delete-experiment-tag", experiment_id=s.experiment_id, key="t"
        ),
    ),
    ("/api/2.0/mlflow/experiments/search-datasets", "POST"): _spec(
        "READ",
        lambda s, u: mlflow(
            "POST", "experiments/search-datasets", experiment_ids=[s.experiment_id]
        ),
    ),
    # -- runs
    ("/api/2.0/mlflow/runs/create", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "runs/create", experiment_id=s.experiment_id, start_time=1),
    ),
    ("/api/2.0/mlflow/runs/update", "POST"): _spec(
        "EDIT", lambda s, u: mlflow("POST", "runs/update", run_id=s.run_id, status="FINISHED")
    ),
    ("/api/2.0/mlflow/runs/delete", "POST"): _spec(
        "MANAGE", lambda s, u: mlflow("POST", "runs/delete", run_id=s.run_id)
    ),
    ("/api/2.0/mlflow/runs/restore", "POST"): _spec(
        "MANAGE", lambda s, u: mlflow("POST", "runs/restore", run_id=s.deleted_run_id)
    ),
    ("/api/2.0/mlflow/runs/get", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "runs/get", run_id=s.run_id)
    ),
    ("/api/2.0/mlflow/runs/search", "POST"): _spec(
        "SIGNED_IN",
        lambda s, u: mlflow("POST", "runs/search", experiment_ids=[s.experiment_id]),
    ),
    ("/api/2.0/mlflow/runs/log-metric", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "runs/log-metric", run_id=s.run_id, key="m", value=1.0, timestamp=1, step=0
        ),
    ),
    ("/api/2.0/mlflow/runs/log-parameter", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "runs/log-parameter", run_id=s.run_id, key="p", value="1"),
    ),
    ("/api/2.0/mlflow/runs/set-tag", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "runs/set-tag", run_id=s.run_id, key="k", value="v"),
    ),
    ("/api/2.0/mlflow/runs/delete-tag", "POST"): _spec(
        "EDIT", lambda s, u: mlflow("POST", "runs/delete-tag", run_id=s.run_id, key="t")
    ),
    ("/api/2.0/mlflow/runs/log-batch", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST",
            "runs/log-batch",
            run_id=s.run_id,
            metrics=[{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        ),
    ),
    ("/api/2.0/mlflow/runs/log-inputs", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "runs/log-inputs", run_id=s.run_id, datasets=[_DATASET]),
    ),
    ("/api/2.0/mlflow/runs/log-model", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "runs/log-model", run_id=s.run_id, model_json=_LOG_MODEL),
    ),
    ("/api/2.0/mlflow/runs/outputs", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST",
            "runs/outputs",
            run_id=s.run_id,
            models=[{"model_id": s.logged_model_id, "step": 0}],
        ),
    ),
    ("/api/2.0/mlflow/artifacts/list", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "artifacts/list", run_id=s.run_id)
    ),
    ("/api/2.0/mlflow/metrics/get-history", "GET"): _spec(
        "READ",
        lambda s, u: mlflow("GET", "metrics/get-history", run_id=s.run_id, metric_key="loss"),
    ),
    ("/api/2.0/mlflow/metrics/get-history-bulk-interval", "GET"): _spec(
        "READ",
        lambda s, u: mlflow(
            "GET",
            "metrics/get-history-bulk-interval",
            run_ids=[s.run_id, s.second_run_id],
            metric_key="loss",
        ),
    ),
    ("/api/2.0/mlflow/metrics/get-history-bulk", "GET"): _spec(
        "READ",
        lambda s, u: mlflow(
            "GET", "metrics/get-history-bulk", run_id=[s.run_id], metric_key="loss"
        ),
    ),
    # -- logged models
    ("/api/2.0/mlflow/logged-models", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "logged-models", experiment_id=s.experiment_id, source_run_id=s.run_id
        ),
    ),
    ("/api/2.0/mlflow/logged-models/search", "POST"): _spec(
        "SIGNED_IN",
        lambda s, u: mlflow("POST", "logged-models/search", experiment_ids=[s.experiment_id]),
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", f"logged-models/{s.logged_model_id}")
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}", "PATCH"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "PATCH", f"logged-models/{s.logged_model_id}", status="LOGGED_MODEL_READY"
        ),
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}", "DELETE"): _spec(
        "MANAGE", lambda s, u: mlflow("DELETE", f"logged-models/{s.logged_model_id}")
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}/tags", "PATCH"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "PATCH", f"logged-models/{s.logged_model_id}/tags", tags=[{"key": "a", "value": "b"}]
        ),
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key:path}", "DELETE"): _spec(
        "EDIT", lambda s, u: mlflow("DELETE", f"logged-models/{s.logged_model_id}/tags/k")
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}/params", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", f"logged-models/{s.logged_model_id}/params", params=[{"key": "p", "value": "1"}]
        ),
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories", "GET"): _spec(
        "READ",
        lambda s, u: mlflow("GET", f"logged-models/{s.logged_model_id}/artifacts/directories"),
    ),
    ("/api/2.0/mlflow/logged-models/{model_id}/artifacts/files", "GET"): _spec(
        "READ",
        lambda s, u: mlflow(
            "GET",
            f"logged-models/{s.logged_model_id}/artifacts/files",
            artifact_file_path=s.logged_model_file,
        ),
    ),
    # -- runlab's own
    ("/api/2.0/runlab/metrics/downsampled", "GET"): _spec(
        "READ",
        lambda s, u: runlab("GET", "metrics/downsampled", run_id=s.run_id, metric_key="loss"),
    ),
    ("/api/2.0/runlab/artifacts/preview", "GET"): _spec(
        "READ", lambda s, u: runlab("GET", "artifacts/preview", run_id=s.run_id, path="notes.txt")
    ),
    ("/api/2.0/runlab/registered-models/history", "GET"): _spec(
        "READ", lambda s, u: runlab("GET", "registered-models/history", name=s.model)
    ),
    # -- the model registry
    ("/api/2.0/mlflow/registered-models/create", "POST"): _spec(
        "SIGNED_IN",
        lambda s, u: mlflow("POST", "registered-models/create", name=s.unique("new-model")),
    ),
    ("/api/2.0/mlflow/registered-models/get", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "registered-models/get", name=s.model)
    ),
    ("/api/2.0/mlflow/registered-models/rename", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "registered-models/rename", name=s.model, new_name=s.unique("renamed")
        ),
    ),
    ("/api/2.0/mlflow/registered-models/update", "PATCH"): _spec(
        "EDIT",
        lambda s, u: mlflow("PATCH", "registered-models/update", name=s.model, description="d"),
    ),
    ("/api/2.0/mlflow/registered-models/delete", "DELETE"): _spec(
        "MANAGE", lambda s, u: mlflow("DELETE", "registered-models/delete", name=s.model)
    ),
    ("/api/2.0/mlflow/registered-models/search", "GET"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("GET", "registered-models/search", max_results=5)
    ),
    ("/api/2.0/mlflow/registered-models/get-latest-versions", "POST"): _spec(
        "READ", lambda s, u: mlflow("POST", "registered-models/get-latest-versions", name=s.model)
    ),
    ("/api/2.0/mlflow/registered-models/get-latest-versions", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "registered-models/get-latest-versions", name=s.model)
    ),
    ("/api/2.0/mlflow/registered-models/set-tag", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow("POST", "registered-models/set-tag", name=s.model, key="k", value="v"),
    ),
    ("/api/2.0/mlflow/registered-models/delete-tag", "DELETE"): _spec(
        "EDIT",
        lambda s, u: mlflow("DELETE", "registered-models/delete-tag", name=s.model, key="t"),
    ),
    ("/api/2.0/mlflow/registered-models/alias", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "registered-models/alias", name=s.model, alias="next", version="1"
        ),
    ),
    ("/api/2.0/mlflow/registered-models/alias", "DELETE"): _spec(
        "EDIT",
        lambda s, u: mlflow("DELETE", "registered-models/alias", name=s.model, alias="champion"),
    ),
    ("/api/2.0/mlflow/registered-models/alias", "GET"): _spec(
        "READ",
        lambda s, u: mlflow("GET", "registered-models/alias", name=s.model, alias="champion"),
    ),
    ("/api/2.0/mlflow/model-versions/create", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST",
            "model-versions/create",
            name=s.model,
            source=f"runs:/{s.run_id}/model",
            run_id=s.run_id,
        ),
    ),
    ("/api/2.0/mlflow/model-versions/get", "GET"): _spec(
        "READ", lambda s, u: mlflow("GET", "model-versions/get", name=s.model, version="1")
    ),
    ("/api/2.0/mlflow/model-versions/update", "PATCH"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "PATCH", "model-versions/update", name=s.model, version="1", description="d"
        ),
    ),
    ("/api/2.0/mlflow/model-versions/delete", "DELETE"): _spec(
        "MANAGE",
        lambda s, u: mlflow("DELETE", "model-versions/delete", name=s.model, version="1"),
    ),
    ("/api/2.0/mlflow/model-versions/transition-stage", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST",
            "model-versions/transition-stage",
            name=s.model,
            version="1",
            stage="Staging",
            archive_existing_versions=False,
        ),
    ),
    ("/api/2.0/mlflow/model-versions/search", "GET"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("GET", "model-versions/search", max_results=5)
    ),
    ("/api/2.0/mlflow/model-versions/get-download-uri", "GET"): _spec(
        "READ",
        lambda s, u: mlflow("GET", "model-versions/get-download-uri", name=s.model, version="1"),
    ),
    ("/api/2.0/mlflow/model-versions/set-tag", "POST"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "POST", "model-versions/set-tag", name=s.model, version="1", key="a", value="b"
        ),
    ),
    ("/api/2.0/mlflow/model-versions/delete-tag", "DELETE"): _spec(
        "EDIT",
        lambda s, u: mlflow(
            "DELETE", "model-versions/delete-tag", name=s.model, version="1", key="k"
        ),
    ),
    # -- users, permissions, tokens, the audit log
    ("/api/2.0/mlflow/users/create", "POST"): _spec(
        "ADMIN",
        lambda s, u: mlflow(
            "POST", "users/create", username=s.unique("new-user"), password=PASSWORD
        ),
    ),
    ("/api/2.0/mlflow/users/get", "GET"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("GET", "users/get", username=u), others=403
    ),
    ("/api/2.0/mlflow/users/current", "GET"): _spec(
        "SIGNED_IN", lambda s, u: mlflow("GET", "users/current")
    ),
    ("/api/2.0/mlflow/users/list", "GET"): _spec("ADMIN", lambda s, u: mlflow("GET", "users/list")),
    ("/api/2.0/mlflow/users/update-password", "PATCH"): _spec(
        "SIGNED_IN",
        # The same password again: the matrix users keep theirs.
        lambda s, u: mlflow(
            "PATCH",
            "users/update-password",
            username=u,
            password=password_of(u),
            current_password=password_of(u),
        ),
        others=403,
    ),
    ("/api/2.0/mlflow/users/update-admin", "PATCH"): _spec(
        "ADMIN",
        lambda s, u: mlflow("PATCH", "users/update-admin", username=s.user, is_admin=False),
    ),
    ("/api/2.0/mlflow/users/delete", "DELETE"): _spec(
        "ADMIN", lambda s, u: mlflow("DELETE", "users/delete", username=s.user)
    ),
    ("/api/2.0/mlflow/experiments/permissions/create", "POST"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "POST",
            "experiments/permissions/create",
            experiment_id=s.experiment_id,
            username=s.user,
            permission=READ,
        ),
    ),
    ("/api/2.0/mlflow/experiments/permissions/get", "GET"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "GET",
            "experiments/permissions/get",
            experiment_id=s.experiment_id,
            username=s.grantee,
        ),
    ),
    ("/api/2.0/mlflow/experiments/permissions/update", "PATCH"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "PATCH",
            "experiments/permissions/update",
            experiment_id=s.experiment_id,
            username=s.grantee,
            permission=EDIT,
        ),
    ),
    ("/api/2.0/mlflow/experiments/permissions/delete", "DELETE"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "DELETE",
            "experiments/permissions/delete",
            experiment_id=s.experiment_id,
            username=s.grantee,
        ),
    ),
    ("/api/2.0/mlflow/registered-models/permissions/create", "POST"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "POST",
            "registered-models/permissions/create",
            name=s.model,
            username=s.user,
            permission=READ,
        ),
    ),
    ("/api/2.0/mlflow/registered-models/permissions/get", "GET"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "GET", "registered-models/permissions/get", name=s.model, username=s.grantee
        ),
    ),
    ("/api/2.0/mlflow/registered-models/permissions/update", "PATCH"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "PATCH",
            "registered-models/permissions/update",
            name=s.model,
            username=s.grantee,
            permission=EDIT,
        ),
    ),
    ("/api/2.0/mlflow/registered-models/permissions/delete", "DELETE"): _spec(
        "MANAGE",
        lambda s, u: mlflow(
            "DELETE", "registered-models/permissions/delete", name=s.model, username=s.grantee
        ),
    ),
    ("/api/2.0/runlab/tokens/create", "POST"): _spec(
        "SIGNED_IN",
        lambda s, u: runlab("POST", "tokens/create", name=s.unique("token"), username=u),
        others=403,
    ),
    ("/api/2.0/runlab/tokens/list", "GET"): _spec(
        "SIGNED_IN", lambda s, u: runlab("GET", "tokens/list", username=u), others=403
    ),
    ("/api/2.0/runlab/tokens/revoke", "POST"): _spec(
        "SIGNED_IN",
        # Another user's token is "not found", like one that does not exist.
        lambda s, u: runlab("POST", "tokens/revoke", token_id=s.token_of(u)),
        others=404,
    ),
    ("/api/2.0/runlab/audit/list", "GET"): _spec(
        "ADMIN", lambda s, u: runlab("GET", "audit/list", limit=5)
    ),
    # -- server information
    ("/health", "GET"): _spec("PUBLIC", lambda s, u: Call("GET", "/health")),
    ("/version", "GET"): _spec("PUBLIC", lambda s, u: Call("GET", "/version")),
    ("/api/3.0/mlflow/server-info", "GET"): _spec(
        "SIGNED_IN", lambda s, u: Call("GET", "/api/3.0/mlflow/server-info")
    ),
    ("/openapi.json", "GET"): _spec("SIGNED_IN", lambda s, u: Call("GET", "/openapi.json")),
    # -- artifacts
    (f"{_PROXY}/artifacts", "GET"): _spec(
        "READ",
        lambda s, u: Call(
            "GET", f"{_PROXY}/artifacts", params={"path": s.artifact.rpartition("/")[0]}
        ),
    ),
    (f"{_PROXY}/artifacts/{{artifact_path:path}}", "GET"): _spec(
        "READ", lambda s, u: Call("GET", f"{_PROXY}/artifacts/{s.artifact}")
    ),
    (f"{_PROXY}/artifacts/{{artifact_path:path}}", "PUT"): _spec(
        "EDIT",
        lambda s, u: Call("PUT", f"{_PROXY}/artifacts/{s.artifact}.new", content=b"new"),
    ),
    (f"{_PROXY}/artifacts/{{artifact_path:path}}", "DELETE"): _spec(
        "MANAGE", lambda s, u: Call("DELETE", f"{_PROXY}/artifacts/{s.artifact}")
    ),
    # S3-only calls: a local artifact store answers 501 once the caller may make them.
    (f"{_PROXY}/presigned/{{artifact_path:path}}", "GET"): _spec(
        "READ", lambda s, u: Call("GET", f"{_PROXY}/presigned/{s.artifact}"), 501
    ),
    **{
        (f"{_PROXY}/mpu/{kind}{suffix}", "POST"): _multipart(kind, bool(suffix))
        for kind in ("create", "complete", "abort")
        for suffix in ("", "/{artifact_path:path}")
    },
    ("/get-artifact", "GET"): _spec(
        "READ",
        lambda s, u: Call("GET", "/get-artifact", params={"run_id": s.run_id, "path": "notes.txt"}),
    ),
    ("/api/2.0/mlflow/upload-artifact", "POST"): _spec(
        "EDIT",
        lambda s, u: Call(
            "POST",
            "/api/2.0/mlflow/upload-artifact",
            params={"run_uuid": s.run_id, "path": "up.txt"},
            content=b"up",
        ),
    ),
    # -- the web UI
    ("/", "GET"): _page("SIGNED_IN", lambda s, u: Call("GET", "/")),
    ("/experiments", "GET"): _page("SIGNED_IN", lambda s, u: Call("GET", "/experiments")),
    ("/models", "GET"): _page("SIGNED_IN", lambda s, u: Call("GET", "/models")),
    ("/admin", "GET"): _page("ADMIN", lambda s, u: Call("GET", "/admin")),
    ("/compare", "GET"): _page(
        "READ",
        lambda s, u: Call("GET", "/compare", params={"runs": [s.run_id, s.second_run_id]}),
    ),
    ("/models/{name:path}", "GET"): _page(
        "READ", lambda s, u: Call("GET", f"/models/{quote(s.model, safe='')}")
    ),
    ("/models/{name}/compare", "GET"): _page(
        "READ",
        lambda s, u: Call(
            "GET",
            f"/models/{quote(s.model, safe='')}/compare",
            params={"versions": ["1", s.second_version]},
        ),
    ),
    ("/runs/{run_id}", "GET"): _page("READ", lambda s, u: Call("GET", f"/runs/{s.run_id}")),
    ("/experiments/{experiment_id}", "GET"): _page(
        "READ", lambda s, u: Call("GET", f"/experiments/{s.experiment_id}")
    ),
    # Signed in already: sent on to the page it was asked for.
    ("/login", "GET"): _spec("PUBLIC", lambda s, u: Call("GET", "/login"), 200, 303),
    ("/login", "POST"): _spec(
        # Wrong credentials: the page again, saying so (the matrix users must stay signed in).
        "PUBLIC",
        lambda s, u: Call("POST", "/login", form={"username": s.user, "password": "wrong"}),
        200,
        401,
    ),
    ("/logout", "POST"): _spec("SIGNED_IN", lambda s, u: Call("POST", "/logout"), 200, 303),
    ("/static/{name:path}", "GET"): _spec(
        "PUBLIC", lambda s, u: Call("GET", "/static/favicon.svg")
    ),
    ("/static/vendor/plotly-{version}.min.js", "GET"): _spec(
        "PUBLIC", lambda s, u: Call("GET", f"/static/vendor/plotly-{_plotly_version()}.min.js")
    ),
}


def spec_key(path: str, method: str) -> tuple[str, str]:
    """The SPECS key of a route: ``/ajax-api`` spelt ``/api``."""
    if path.startswith("/ajax-api/"):
        path = "/api/" + path[len("/ajax-api/") :]
    return path, method


# -- expectations ------------------------------------------------------------------------------------


#: What a caller who is not signed in gets: 401, except that a web page sends them to sign in.
UNAUTHENTICATED = frozenset({401})
TO_LOGIN = frozenset({303})


def expected(spec: RouteSpec, column: Column) -> frozenset[int]:
    """The statuses ``column`` may get from a route of ``spec`` on a fresh scene."""
    if column.credentials in ("bad password", "expired token"):
        # Refused credentials are refused everywhere, public routes and pages included: the
        # client sent them, and it is told they did not work.
        return UNAUTHENTICATED
    if column.credentials == "none":
        if spec.level == "PUBLIC":
            return spec.ok
        return TO_LOGIN if spec.page else UNAUTHENTICATED
    if spec.level in ("PUBLIC", "SIGNED_IN"):
        if column.others and spec.others is not None:
            return frozenset({spec.others})
        return spec.ok
    if column.is_admin:
        return spec.ok
    if spec.level == "ADMIN":
        return frozenset({403})
    permission = column.permission or DEFAULT_PERMISSION
    return spec.ok if _RANK[permission] >= _RANK[spec.level] else frozenset({403})


def permitted(spec: RouteSpec, column: Column) -> bool:
    """Whether ``column`` gets past authentication and authorization on a route of ``spec``."""
    if column.credentials != "good":
        return column.credentials == "none" and spec.level == "PUBLIC"
    if column.is_admin or spec.level in ("PUBLIC", "SIGNED_IN"):
        return not (column.others and spec.others in (401, 403))
    if spec.level == "ADMIN":
        return False
    return _RANK[column.permission or DEFAULT_PERMISSION] >= _RANK[spec.level]


# -- running it ----------------------------------------------------------------------------------------


class Sender(Protocol):
    """Sends one call as one column's caller (``ghost_user``: a user name that does not exist,
    for the refused-credentials columns)."""

    def __call__(
        self, column: Column, call: Call, *, ghost_user: bool = False
    ) -> httpx.Response: ...


@dataclass(frozen=True)
class Route:
    """One route and method of the app, as the matrix calls it."""

    path: str
    method: str

    @property
    def ajax(self) -> bool:
        return self.path.startswith("/ajax-api/")


@dataclass
class Outcome:
    route: Route
    column: Column
    status: int
    allowed: frozenset[int]
    detail: str = ""

    def __str__(self) -> str:
        return (
            f"{self.route.method} {self.route.path} as {self.column.title}: got {self.status}, "
            f"expected {'/'.join(str(s) for s in sorted(self.allowed))}{self.detail}"
        )


def _as_ghost(text: str, scene: Scene, target: str | None) -> str:
    """``text`` with the scene's names (and ``target``, a user the request named) replaced by
    the ghost scene's: what a request sent may be echoed back (a refusal names what was
    asked for; a login form keeps the user name typed)."""
    ghost = GhostScene()
    pairs = [(target, "no-such-user")] if target else []
    pairs += [
        (str(value), str(getattr(ghost, name)))
        for name, value in vars(scene).items()
        if isinstance(value, str) and hasattr(ghost, name)
    ]
    for real, fake in sorted(pairs, key=lambda pair: -len(pair[0])):
        # Whole names only: experiment "3" is not the 3 inside a run id.
        text = re.sub(rf"(?<![\w-]){re.escape(real)}(?![\w-])", lambda _m, f=fake: f, text)
    return text


def _names_by_name(call: Call) -> bool:
    """Whether ``call`` (to a ghost scene) names a model or an experiment by its name."""
    ghost = GhostScene()
    sent = json.dumps([call.path, call.params, call.json, call.form])
    return ghost.model in sent or ghost.experiment_name in sent


def _leak_check(
    send: Sender,
    route: Route,
    spec: RouteSpec,
    column: Column,
    first: httpx.Response,
    scene: Scene,
    target: str,
    ghost_user: bool,
) -> str:
    """Empty when a refused caller learns nothing: the same answer for resources (and, with
    ``ghost_user``, for a user) that do not exist, and, when not signed in, no user name."""
    ghost_call = spec.build(GhostScene(), "no-such-user").with_prefix(route.ajax)
    ghost = send(column, ghost_call, ghost_user=ghost_user)
    # The caller's own name may be in a refusal; another user's (the request's) is replaced.
    named = target if target != column.user else None
    same = ghost.status_code == first.status_code and ghost.text == _as_ghost(
        first.text, scene, named
    )
    # Signed in without permission: a resource named by its name (a registered model, an
    # experiment by name) gets the handler's own answer when missing, since names are no
    # secret (creating one tells whether it is taken). Ids are: a missing id gets the very
    # same 403.
    if not same and column.credentials == "good" and ghost.status_code in (200, 404):
        same = _names_by_name(ghost_call)
    if not same:
        return (
            f"; the answer differs for resources that do not exist ({ghost.status_code} "
            f"{ghost.text[:200]!r} vs {first.text[:200]!r})"
        )
    if first.status_code == 303 and not first.headers.get("location", "").startswith("/login"):
        return f"; redirected to {first.headers.get('location')!r}, not to the login page"
    if column.credentials != "good" and column.user and column.user in first.text:
        return f"; the answer names the user ({first.text[:200]!r})"
    return ""


def run_matrix(
    routes: list[Route],
    send: Sender,
    new_scene: Callable[[], Scene],
    columns: tuple[Column, ...] = COLUMNS,
) -> Iterator[Outcome]:
    """Call every route as every column; yields each call's outcome (``detail`` says what is
    wrong besides a status that is not ``allowed``)."""
    scene = new_scene()
    # A wrong password is refused before any route is chosen, so whether its user exists is
    # compared once per kind of route (an unknown user costs the server a full password hash).
    user_checked: set[tuple[bool, bool, str]] = set()
    for route in routes:
        spec = SPECS[spec_key(route.path, route.method)]
        kind = (is_api_path(route.path), spec.level == "PUBLIC", route.method)
        for column in columns:
            target = OWNER if column.others or column.user is None else column.user
            call = spec.build(scene, target).with_prefix(route.ajax)
            response = send(column, call)
            allowed = expected(spec, column)
            detail = ""
            refused = column.credentials != "good" and response.status_code in (303, 401, 403)
            # A user without permission must not learn more than an anonymous caller would.
            if refused or (column.permission == NO_PERMISSIONS and response.status_code == 403):
                ghost_user = column.credentials == "bad password" and kind not in user_checked
                if ghost_user:
                    user_checked.add(kind)
                detail = _leak_check(send, route, spec, column, response, scene, target, ghost_user)
            elif response.status_code not in allowed and response.status_code >= 500:
                detail = f"; {response.text[:300]!r}"
            yield Outcome(route, column, response.status_code, allowed, detail)
            if permitted(spec, column) and spec.changes:
                scene = new_scene()
