"""A small world to check permissions in (tests only): real SQL stores on temporary SQLite files.

One shared experiment (with a run, a logged model and an artifact location behind the artifact
proxy) and one registered model, and a user for every permission on both:

=============  =========================
user           permission on both
=============  =========================
``admin``      (administrator, none)
``manager``    MANAGE
``editor``     EDIT
``reader``     READ
``blocked``    NO_PERMISSIONS
``bystander``  (none: the default applies)
=============  =========================
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from runlab.entities.auth import EDIT, MANAGE, NO_PERMISSIONS, READ
from runlab.server.auth import Principal
from runlab.store.sql.auth import SqlAuthStore
from runlab.store.sql.registry import SqlRegistryStore
from runlab.store.sql.tracking import SqlTrackingStore

#: Argon2id at its cheapest: these tests check permissions, not password hashing.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse"
#: Each user's permission on the shared experiment and model (None: no permission of their own).
GRANTS: dict[str, str | None] = {
    "manager": MANAGE,
    "editor": EDIT,
    "reader": READ,
    "blocked": NO_PERMISSIONS,
    "bystander": None,
}
MODEL = "clf"


@dataclass
class World:
    tracking: SqlTrackingStore
    registry: SqlRegistryStore
    auth: SqlAuthStore
    folder: Path
    experiment_id: str
    run_id: str
    logged_model_id: str

    def principal(self, username: str | None) -> Principal | None:
        """The principal of a user of this world (None: anonymous)."""
        if username is None:
            return None
        return Principal(username, self.auth.get_user(username).is_admin)


def make_world(folder: Path) -> World:
    """The stores and the users and grants of the module docstring, under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'runlab.db'}"
    tracking = SqlTrackingStore(url, "mlflow-artifacts:/")
    registry = SqlRegistryStore(url)
    # The permissions in a database of their own, as --auth-database-uri allows.
    auth = SqlAuthStore(f"sqlite:///{folder / 'auth.db'}", password_hasher=FAST_HASHER)
    experiment_id = tracking.create_experiment("shared")
    run = tracking.create_run(experiment_id, "manager", int(time.time() * 1000), [], "r1")
    logged = tracking.create_logged_model(experiment_id, name="m1")
    registry.create_registered_model(MODEL)
    auth.create_user("admin", PASSWORD, is_admin=True)
    for username, permission in GRANTS.items():
        auth.create_user(username, PASSWORD)
        if permission is not None:
            auth.create_experiment_permission(experiment_id, username, permission)
            auth.create_registered_model_permission(MODEL, username, permission)
    return World(tracking, registry, auth, folder, experiment_id, run.info.run_id, logged.model_id)


def close_world(world: World) -> None:
    world.auth.close()
    world.tracking.close()
    close = getattr(world.registry, "close", None)
    if close is not None:
        close()
