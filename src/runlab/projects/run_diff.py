"""What differs between two runs: params, code version, environment lock and latest metrics.

``runlab runs diff RUN_A RUN_B`` prints this; it works for any two runs, and compares the
environment package by package when the runs are project runs that recorded a lock
(``project/environment.lock``, one ``name==version`` requirement a line as ``pip freeze``
writes it). Two runs of the same commit are also compared by the uncommitted changes they ran
on top of it (``project/uncommitted.patch``).
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlab.errors import ArtifactNotFound
from runlab.projects.rerun import LOCK_ARTIFACT, REPRODUCES_TAG
from runlab.projects.uncommitted import PATCH_ARTIFACT, TOO_LARGE, UNCOMMITTED_TAG, describe_patch

if TYPE_CHECKING:
    from runlab.entities import Run
    from runlab.tracking.client import Client

__all__ = [
    "CODE_TAGS",
    "Change",
    "EnvironmentDiff",
    "RunDiff",
    "diff_locks",
    "diff_runs",
    "parse_lock",
]

#: The tags that say which code a run ran, in the order they are shown.
CODE_TAGS = (
    "mlflow.source.name",
    "mlflow.source.git.repoURL",
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
    "runlab.source.git.dirty",
    "mlflow.project.entryPoint",
    "mlflow.project.env",
)
_COMMIT, _BRANCH = "mlflow.source.git.commit", "mlflow.source.git.branch"
_DIRTY = "runlab.source.git.dirty"
# PEP 503: names compare lower-cased with runs of -, _ and . as one -.
_NAME_SEPARATORS = re.compile(r"[-_.]+")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
# The header runlab writes on a lock: which manager built the environment, on which Python.
_LOCK_HEADER = re.compile(r"^#\s*runlab environment lock:.*\bpython\s+(?P<version>[\w.+]+)")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


@dataclass(frozen=True)
class Change:
    """One key whose value differs; ``a`` or ``b`` is None where that run has no such key."""

    key: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"key": self.key, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class EnvironmentDiff:
    """The two runs' environment locks compared package by package.

    ``added`` are in B only, ``removed`` in A only, ``changed`` in both with another version.
    ``a_recorded`` / ``b_recorded`` say whether each run has a lock at all.
    """

    a_recorded: bool
    b_recorded: bool
    added: tuple[Change, ...] = ()
    removed: tuple[Change, ...] = ()
    changed: tuple[Change, ...] = ()

    @property
    def same(self) -> bool:
        """True when both runs recorded identical package sets (or neither recorded one)."""
        return self.a_recorded == self.b_recorded and not (
            self.added or self.removed or self.changed
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "a_recorded": self.a_recorded,
            "b_recorded": self.b_recorded,
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "changed": [c.to_dict() for c in self.changed],
        }


@dataclass(frozen=True)
class RunDiff:
    """Everything that differs between run A and run B."""

    run_a: str
    run_b: str
    params: tuple[Change, ...] = ()
    code: tuple[Change, ...] = ()
    environment: EnvironmentDiff = field(default_factory=lambda: EnvironmentDiff(False, False))
    metrics: tuple[Change, ...] = ()
    #: The run each one re-runs (its ``runlab.project.reproducesRun`` tag), if any.
    a_reproduces: str | None = None
    b_reproduces: str | None = None

    @property
    def same(self) -> bool:
        """True when nothing compared differs."""
        return not (self.params or self.code or self.metrics) and self.environment.same

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (what ``runlab runs diff --json`` prints)."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "a_reproduces": self.a_reproduces,
            "b_reproduces": self.b_reproduces,
            "same": self.same,
            "params": [c.to_dict() for c in self.params],
            "code": [c.to_dict() for c in self.code],
            "environment": self.environment.to_dict(),
            "metrics": [_metric_change_dict(c) for c in self.metrics],
        }


def diff_runs(client: Client, run_a: str, run_b: str) -> RunDiff:
    """Compare two runs; raises :class:`~runlab.errors.RunNotFound` for an unknown id."""
    a, b = client.get_run(run_a), client.get_run(run_b)
    return RunDiff(
        run_a=a.info.run_id,
        run_b=b.info.run_id,
        params=_changes(a.data.params, b.data.params),
        code=_code_changes(a, b) + _patch_changes(client, a, b),
        environment=diff_locks(_lock_text(client, a), _lock_text(client, b)),
        metrics=_changes(a.data.metrics, b.data.metrics, same=_same_number),
        a_reproduces=a.data.tags.get(REPRODUCES_TAG),
        b_reproduces=b.data.tags.get(REPRODUCES_TAG),
    )


def parse_lock(text: str) -> dict[str, str]:
    """A lock's packages: normalized name -> what pins it (a version, or the whole line).

    Understands ``pip freeze`` / ``uv pip freeze`` lines (``name==version``, ``name @ url``,
    ``-e`` editable installs) and ``conda list --export`` lines (``name=version=build``);
    comments, blank lines and option lines (``--index-url …``) are skipped, except runlab's
    header line, whose Python version is compared as the package ``python``.
    """
    packages: dict[str, str] = {}
    for raw in text.splitlines():
        header = _LOCK_HEADER.match(raw.strip())
        if header:
            packages.setdefault("python", header.group("version"))
            continue
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-e ", "--editable ")):
            # An editable install is known by its #egg= name, else only by where it lives
            # (`uv pip freeze` writes `-e file:///path`), so the location is its key.
            target = line.split(None, 1)[1].strip()
            egg = _EGG.search(target)
            if egg:
                packages[_normalize(egg.group(1))] = f"-e {target}"
            else:
                packages[f"-e {target}"] = "editable"
            continue
        if line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match is None:
            continue
        name, rest = match.group(1), match.group(2).strip()
        if rest.startswith("=="):
            packages[_normalize(name)] = rest[2:].split(";", 1)[0].strip()
        elif rest.startswith("@"):
            packages[_normalize(name)] = rest
        elif rest.startswith("="):
            # conda's name=version=build
            parts = line.split("=")
            packages[_normalize(parts[0])] = "=".join(p for p in parts[1:] if p)
        else:
            packages[_normalize(name)] = rest or "*"
    return packages


def diff_locks(a_text: str | None, b_text: str | None) -> EnvironmentDiff:
    """Compare two locks (None: that run recorded none) package by package."""
    a = parse_lock(a_text) if a_text is not None else {}
    b = parse_lock(b_text) if b_text is not None else {}
    return EnvironmentDiff(
        a_recorded=a_text is not None,
        b_recorded=b_text is not None,
        added=tuple(Change(n, None, b[n]) for n in sorted(b.keys() - a.keys())),
        removed=tuple(Change(n, a[n], None) for n in sorted(a.keys() - b.keys())),
        changed=tuple(Change(n, a[n], b[n]) for n in sorted(a.keys() & b.keys()) if a[n] != b[n]),
    )


def _normalize(name: str) -> str:
    return _NAME_SEPARATORS.sub("-", name).lower()


def _code_tags(run: Run) -> dict[str, str]:
    return {k: run.data.tags[k] for k in CODE_TAGS if k in run.data.tags}


def _code_changes(a: Run, b: Run) -> tuple[Change, ...]:
    """The code tags that differ; the branch only when the commits differ too.

    A branch is a name for a commit: a re-run checked out at the commit records the commit
    as its "branch", which is no difference in the code that ran.
    """
    tags_a, tags_b = _code_tags(a), _code_tags(b)
    commit_a, commit_b = tags_a.get(_COMMIT), tags_b.get(_COMMIT)
    if commit_a is not None and commit_a == commit_b:
        tags_a.pop(_BRANCH, None)
        tags_b.pop(_BRANCH, None)
    return _changes(tags_a, tags_b, order=CODE_TAGS)


def _patch_changes(client: Client, a: Run, b: Run) -> tuple[Change, ...]:
    """The uncommitted changes two runs of the same commit ran, when they differ or cannot be
    told apart (a run whose changes were not recorded), as one change keyed PATCH_ARTIFACT.

    Runs of different commits are not compared this way: their patches apply to different
    code, and the commit already differs.
    """
    commit = a.data.tags.get(_COMMIT)
    if not commit or commit != b.data.tags.get(_COMMIT):
        return ()
    dirty = [run.data.tags.get(_DIRTY) == "true" for run in (a, b)]
    if not any(dirty):
        return ()
    described: list[str | None] = []
    unknown = False  # a dirty run without a patch: its changes cannot be compared
    for run, is_dirty in zip((a, b), dirty, strict=True):
        patch = _artifact_bytes(client, run, PATCH_ARTIFACT) if is_dirty else None
        if patch is not None:
            described.append(describe_patch(patch))
        elif is_dirty:
            unknown = True
            why = "too large" if run.data.tags.get(UNCOMMITTED_TAG) == TOO_LARGE else "no patch"
            described.append(f"not recorded ({why})")
        else:
            described.append(None)  # ran the commit as committed
    if described[0] == described[1] and not unknown:
        return ()
    return (Change(PATCH_ARTIFACT, described[0], described[1]),)


def _artifact_bytes(client: Client, run: Run, path: str) -> bytes | None:
    with tempfile.TemporaryDirectory(prefix="runlab-diff-") as tmp:
        try:
            local = client.download_artifacts(run.info.run_id, path, tmp)
        except ArtifactNotFound:
            return None
        return Path(local).read_bytes()


def _lock_text(client: Client, run: Run) -> str | None:
    with tempfile.TemporaryDirectory(prefix="runlab-diff-") as tmp:
        try:
            local = client.download_artifacts(run.info.run_id, LOCK_ARTIFACT, tmp)
        except ArtifactNotFound:
            return None
        return Path(local).read_text(encoding="utf-8", errors="replace")


def _same_number(a: Any, b: Any) -> bool:
    # A NaN metric in both runs is no difference.
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _changes(
    a: dict[str, Any],
    b: dict[str, Any],
    order: tuple[str, ...] = (),
    same: Any = None,
) -> tuple[Change, ...]:
    """The keys whose values differ (missing on one side counts), sorted or in ``order``."""
    equal = same or (lambda x, y: x == y)
    keys = a.keys() | b.keys()
    ranked = [k for k in order if k in keys] + sorted(keys - set(order))
    return tuple(
        Change(k, a.get(k), b.get(k))
        for k in ranked
        if k not in a or k not in b or not equal(a[k], b[k])
    )


def _metric_change_dict(change: Change) -> dict[str, Any]:
    out = change.to_dict()
    a, b = change.a, change.b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        delta = b - a
        # JSON has no NaN or infinity: a delta that is not finite is left out.
        out["delta"] = delta if math.isfinite(delta) else None
    else:
        out["delta"] = None
    for side in ("a", "b"):
        value = out[side]
        if isinstance(value, float) and not math.isfinite(value):
            out[side] = str(value)  # "nan", "inf": readable, and valid JSON
    return out
