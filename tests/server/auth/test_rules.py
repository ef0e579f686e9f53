"""The decision point (authorize) for every rule kind and every kind of caller, on real stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from runlab.entities.auth import EDIT, MANAGE, NO_PERMISSIONS, READ, get_permission
from runlab.errors import InvalidParameter, PermissionDenied, Unauthenticated
from runlab.server.auth import AuthenticatedUser, Principal, principal_of_scope
from runlab.server.auth.decision import (
    UNAUTHENTICATED_MESSAGE,
    AuthContext,
    PermissionsNotUpdated,
    apply_effects,
    authorize,
    readable,
)
from runlab.server.auth.rules import (
    ADMIN,
    AUTHENTICATED,
    EXPERIMENT_ID,
    EXPERIMENT_ID_OR_DEFAULT,
    EXPERIMENT_IDS,
    EXPERIMENT_NAME,
    LOGGED_MODEL_ID,
    MAX_TARGETS,
    METRIC_LOGGED_MODELS,
    MODEL_NAME,
    OPTIONAL_RUN_ID,
    PROXIED_ARTIFACT_PATH,
    PUBLIC,
    RUN_ID,
    SOURCE_MODEL,
    Effect,
    Locator,
    Rule,
    all_of,
    experiment,
    filtered_search,
    model,
    run_ids,
)
from runlab.server.request_fields import RequestFields
from support.auth_world import GRANTS, MODEL, World

USERS = ["admin", "manager", "editor", "reader", "blocked", "bystander", None]
NEEDS = ["read", "update", "delete", "manage"]
CAN = {
    "read": lambda p: p.can_read,
    "update": lambda p: p.can_update,
    "delete": lambda p: p.can_delete,
    "manage": lambda p: p.can_manage,
}


def context(world: World, default: str = READ, destination: str | None = None) -> AuthContext:
    # These tests change permissions in the store between calls, as `runlab auth` does from
    # outside the server: with no remembering, each call sees the store as it is.
    return AuthContext(
        world.tracking,
        world.auth,
        default_permission=default,
        artifacts_destination=destination,
        permission_cache_seconds=0,
    )


def outcome(call: Callable[[], None]) -> str:
    """'ok', '401' or '403' (anything else is raised)."""
    try:
        call()
    except Unauthenticated:
        return "401"
    except PermissionDenied:
        return "403"
    return "ok"


def expected(user: str | None, need: str, default: str = READ) -> str:
    """What a resource rule needing ``need`` answers ``user`` on the shared resources."""
    if user is None:
        return "401"
    if user == "admin":
        return "ok"
    permission = get_permission(GRANTS[user] or default)
    return "ok" if CAN[need](permission) else "403"


# -- PUBLIC, AUTHENTICATED, ADMIN, searches ---------------------------------------------------------


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize(
    ("rule", "allowed"),
    [
        (PUBLIC, set(USERS)),
        (AUTHENTICATED, set(USERS) - {None}),
        (filtered_search("runs"), set(USERS) - {None}),
        (ADMIN, {"admin"}),
    ],
    ids=["public", "authenticated", "search", "admin"],
)
def test_rules_without_a_resource(
    shared_world: World, user: str | None, rule: Rule, allowed: set[str | None]
) -> None:
    auth = context(shared_world)
    got = outcome(lambda: authorize(auth, shared_world.principal(user), rule, RequestFields({})))
    if user in allowed:
        assert got == "ok"
    else:
        assert got == ("401" if user is None else "403")


# -- resource rules, for every locator, need and caller ---------------------------------------------


def _fields(world: World, case: str) -> dict[str, Any]:
    return {
        "experiment_id": {"experiment_id": world.experiment_id},
        "experiment_name": {"experiment_name": "shared"},
        "run_id": {"run_id": world.run_id},
        "run_uuid": {"run_uuid": world.run_id},
        "run_ids": {"run_ids": [world.run_id]},
        "experiment_ids": {"experiment_ids": [world.experiment_id]},
        "logged_model": {"model_id": world.logged_model_id},
        "artifact_path": {
            "artifact_path": f"{world.experiment_id}/{world.run_id}/artifacts/model/MLmodel"
        },
        "model_name": {"name": MODEL},
    }[case]


LOCATORS: dict[str, Locator] = {
    "experiment_id": EXPERIMENT_ID,
    "experiment_name": EXPERIMENT_NAME,
    "run_id": RUN_ID,
    "run_uuid": RUN_ID,
    "run_ids": run_ids("run_ids"),
    "experiment_ids": EXPERIMENT_IDS,
    "logged_model": LOGGED_MODEL_ID,
    "artifact_path": PROXIED_ARTIFACT_PATH,
    "model_name": MODEL_NAME,
}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("case", list(LOCATORS))
def test_resource_rules(shared_world: World, case: str, need: Any, user: str | None) -> None:
    locator = LOCATORS[case]
    rule = model(need, locator) if case == "model_name" else experiment(need, locator)
    auth = context(shared_world)
    fields = RequestFields(_fields(shared_world, case))
    got = outcome(lambda: authorize(auth, shared_world.principal(user), rule, fields))
    assert got == expected(user, need)


@pytest.mark.parametrize("default", [NO_PERMISSIONS, READ, EDIT, MANAGE])
@pytest.mark.parametrize("need", NEEDS)
def test_the_default_permission_applies_without_a_permission_of_ones_own(
    shared_world: World, default: str, need: Any
) -> None:
    auth = context(shared_world, default=default)
    for user in ("bystander", "reader", "blocked"):
        for rule, fields in (
            (experiment(need, RUN_ID), {"run_id": shared_world.run_id}),
            (model(need), {"name": MODEL}),
        ):
            got = outcome(
                lambda rule=rule, fields=fields, user=user: authorize(
                    auth, shared_world.principal(user), rule, RequestFields(fields)
                )
            )
            # Only the bystander has no permission of their own; the others keep theirs.
            assert got == expected(user, need, default), (user, rule)


# -- what a refusal says, and what it does not -------------------------------------------------------


def _message(auth: AuthContext, user: str, rule: Rule, fields: dict[str, Any]) -> str:
    with pytest.raises(PermissionDenied) as caught:
        authorize(auth, Principal(user), rule, RequestFields(fields))
    assert caught.value.get_http_status_code() == 403
    return caught.value.message


@pytest.mark.parametrize(
    ("rule", "field", "kind"),
    [
        (experiment("read", RUN_ID), "run_id", "run"),
        (experiment("read"), "experiment_id", "experiment"),
        (experiment("read", LOGGED_MODEL_ID), "model_id", "logged_model"),
    ],
)
def test_a_missing_id_is_refused_exactly_like_a_forbidden_one(
    shared_world: World, rule: Rule, field: str, kind: str
) -> None:
    existing = {
        "run": shared_world.run_id,
        "experiment": shared_world.experiment_id,
        "logged_model": shared_world.logged_model_id,
    }[kind]
    missing = {"run": "f" * 32, "experiment": "987654", "logged_model": "m-" + "0" * 32}[kind]
    auth = context(shared_world)
    forbidden = _message(auth, "blocked", rule, {field: existing})
    absent = _message(auth, "blocked", rule, {field: missing})
    # Word for word the same, once the id the caller sent is set aside.
    assert forbidden.replace(existing, "<id>") == absent.replace(missing, "<id>")
    # A user the default would let in learns nothing either: the missing id is refused too.
    assert _message(auth, "bystander", rule, {field: missing}) == absent.replace(
        "'blocked'", "'bystander'"
    )
    # The message names only what was sent: not the experiment a run resolved to.
    if kind != "experiment":
        assert f"experiment {shared_world.experiment_id!r}" not in forbidden


def test_an_administrator_is_never_refused_and_gets_the_handlers_404(shared_world: World) -> None:
    auth = context(shared_world, default=NO_PERMISSIONS)
    admin = Principal("admin", is_admin=True)
    for rule, fields in (
        (experiment("manage", RUN_ID), {"run_id": "f" * 32}),
        (experiment("delete"), {"experiment_id": "987654"}),
        (experiment("update", PROXIED_ARTIFACT_PATH), {"artifact_path": ""}),
        (ADMIN, {}),
    ):
        authorize(auth, admin, rule, RequestFields(fields))  # no exception: the handler decides


def test_a_missing_name_is_left_to_the_handler(shared_world: World) -> None:
    """Names are not secret (creating one tells whether it is taken): their 404 stays."""
    auth = context(shared_world)
    bystander = Principal("bystander")
    authorize(auth, bystander, experiment("read", EXPERIMENT_NAME), _f(experiment_name="nope"))
    authorize(auth, bystander, model("read"), _f(name="no-such-model"))
    # With nothing readable by default, a model name still needs a permission of one's own.
    strict = context(shared_world, default=NO_PERMISSIONS)
    with pytest.raises(PermissionDenied):
        authorize(strict, bystander, model("read"), _f(name="no-such-model"))


def test_an_anonymous_caller_gets_one_answer_for_everything(shared_world: World) -> None:
    auth = context(shared_world)
    for rule, fields in (
        (experiment("read", RUN_ID), {"run_id": shared_world.run_id}),
        (experiment("read", RUN_ID), {"run_id": "f" * 32}),
        (model("read"), {"name": "nope"}),
        (ADMIN, {}),
        (AUTHENTICATED, {}),
    ):
        with pytest.raises(Unauthenticated) as caught:
            authorize(auth, None, rule, RequestFields(fields))
        assert caught.value.message == UNAUTHENTICATED_MESSAGE
        assert caught.value.get_http_status_code() == 401


def _f(**values: Any) -> RequestFields:
    return RequestFields(values)


def test_another_spelling_of_an_experiment_id_is_the_same_experiment(
    shared_world: World,
) -> None:
    """ "01" names experiment "1" in the store, so it must also in the permission check."""
    auth = context(shared_world)
    blocked = Principal("blocked")
    experiment_id = shared_world.experiment_id
    for spelling in (f"0{experiment_id}", f"00{experiment_id}"):
        assert shared_world.tracking.get_experiment(spelling).experiment_id == experiment_id
        with pytest.raises(PermissionDenied):
            authorize(auth, blocked, experiment("read"), _f(experiment_id=spelling))
        with pytest.raises(PermissionDenied):
            authorize(
                auth, blocked, experiment("read", EXPERIMENT_IDS), _f(experiment_ids=[spelling])
            )


def test_a_request_that_names_no_resource_is_a_400_for_a_signed_in_caller(
    shared_world: World,
) -> None:
    auth = context(shared_world)
    with pytest.raises(InvalidParameter, match="run_id"):
        authorize(auth, Principal("reader"), experiment("read", RUN_ID), _f())
    with pytest.raises(InvalidParameter, match="disagree"):
        authorize(
            auth,
            Principal("reader"),
            experiment("read", RUN_ID),
            _f(run_id=shared_world.run_id, run_uuid="f" * 32),
        )


def test_every_run_of_a_bulk_call_is_checked(world: World) -> None:
    other = world.tracking.create_experiment("private")
    hidden = world.tracking.create_run(other, "x", 0, [], "hidden").info.run_id
    world.auth.create_experiment_permission(other, "reader", NO_PERMISSIONS)
    auth = context(world)
    rule = experiment("read", run_ids("run_ids"))
    authorize(auth, Principal("reader"), rule, _f(run_ids=[world.run_id]))
    with pytest.raises(PermissionDenied, match=hidden):
        authorize(auth, Principal("reader"), rule, _f(run_ids=[world.run_id, hidden]))
    too_many = [f"{i:032x}" for i in range(MAX_TARGETS + 1)]
    with pytest.raises(InvalidParameter, match="at most"):
        authorize(auth, Principal("reader"), rule, _f(run_ids=too_many))


def test_runs_go_to_the_default_experiment_when_none_is_named(world: World) -> None:
    auth = context(world)
    rule = experiment("update", EXPERIMENT_ID_OR_DEFAULT)
    # The Default experiment ("0"): no one has a permission there, the default is READ.
    with pytest.raises(PermissionDenied, match="experiment '0'"):
        authorize(auth, Principal("manager"), rule, _f())
    world.auth.create_experiment_permission("0", "manager", EDIT)
    authorize(auth, Principal("manager"), rule, _f())
    authorize(auth, Principal("manager"), rule, _f(experiment_id=world.experiment_id))


def test_all_of_needs_every_part(world: World) -> None:
    """model-versions/create: EDIT on the model and READ on the run the version comes from."""
    other = world.tracking.create_experiment("private")
    hidden = world.tracking.create_run(other, "x", 0, [], "hidden").info.run_id
    world.auth.create_experiment_permission(other, "editor", NO_PERMISSIONS)
    world.registry.create_registered_model("other-model")
    world.auth.create_registered_model_permission("other-model", "editor", NO_PERMISSIONS)
    rule = all_of(
        model("update"),
        experiment("read", OPTIONAL_RUN_ID),
        model("read", SOURCE_MODEL),
    )
    auth = context(world)
    editor = Principal("editor")
    authorize(auth, editor, rule, _f(name=MODEL, source="s3://b/m"))
    authorize(auth, editor, rule, _f(name=MODEL, source="s3://b/m", run_id=world.run_id))
    with pytest.raises(PermissionDenied, match=f"run '{hidden}'"):
        authorize(auth, editor, rule, _f(name=MODEL, source="s3://b/m", run_id=hidden))
    with pytest.raises(PermissionDenied, match="registered model 'other-model'"):
        authorize(auth, editor, rule, _f(name=MODEL, source="models:/other-model/1"))
    with pytest.raises(PermissionDenied, match=f"registered model '{MODEL}'"):
        authorize(auth, Principal("reader"), rule, _f(name=MODEL, source="s3://b/m"))


def test_metrics_that_name_a_logged_model_need_its_experiment(world: World) -> None:
    other = world.tracking.create_experiment("private")
    foreign = world.tracking.create_logged_model(other, name="theirs").model_id
    world.auth.create_experiment_permission(other, "editor", READ)
    rule = all_of(experiment("update", RUN_ID), experiment("update", METRIC_LOGGED_MODELS))
    auth = context(world)
    editor = Principal("editor")
    plain = {"key": "loss", "value": 1.0, "timestamp": 1, "step": 0}
    authorize(auth, editor, rule, _f(run_id=world.run_id, metrics=[plain] * 3))
    own = {**plain, "model_id": world.logged_model_id}
    authorize(auth, editor, rule, _f(run_id=world.run_id, metrics=[plain, own]))
    for spelling in ("model_id", "modelId"):
        theirs = {**plain, spelling: foreign}
        with pytest.raises(PermissionDenied, match=foreign):
            authorize(auth, editor, rule, _f(run_id=world.run_id, metrics=[plain, theirs]))


# -- the artifact proxy: which experiment owns a path ------------------------------------------------


def test_proxy_paths_belong_to_the_experiments_whose_folders_hold_them(world: World) -> None:
    auth = context(world)
    e, r = world.experiment_id, world.run_id
    assert auth.experiments_owning_artifact_path(f"{e}") == (e,)
    assert auth.experiments_owning_artifact_path(f"{e}/{r}/artifacts/a/b.txt") == (e,)
    assert auth.experiments_owning_artifact_path(f"{e}/models/x/artifacts/MLmodel") == (e,)
    # The destination's root and folders of no experiment are nobody's: administrators only.
    for nobodys in ("", "elsewhere/file.txt", "999/file.txt", f"0{e}/file.txt"):
        assert auth.experiments_owning_artifact_path(nobodys) == ()
        with pytest.raises(PermissionDenied):
            authorize(
                auth,
                Principal("manager"),
                experiment("read", PROXIED_ARTIFACT_PATH),
                _f(artifact_path=nobodys),
            )


def test_an_experiment_placed_inside_anothers_folder_gains_nothing_there(world: World) -> None:
    e = world.experiment_id
    # "blocked" makes an experiment whose artifacts go inside the shared experiment's folder.
    intruder = world.tracking.create_experiment("intruder", f"mlflow-artifacts:/{e}/x")
    world.auth.create_experiment_permission(intruder, "blocked", MANAGE)
    run = world.tracking.create_run(intruder, "blocked", 0, [], "r").info.run_id
    auth = context(world)
    path = f"{e}/x/{run}/artifacts/stolen.txt"
    assert set(auth.experiments_owning_artifact_path(path)) == {e, intruder}
    with pytest.raises(PermissionDenied):
        authorize(
            auth,
            Principal("blocked"),
            experiment("update", PROXIED_ARTIFACT_PATH),
            _f(artifact_path=path),
        )
    # Someone with access to both may use it.
    world.auth.create_experiment_permission(intruder, "manager", MANAGE)
    authorize(
        auth,
        Principal("manager"),
        experiment("update", PROXIED_ARTIFACT_PATH),
        _f(artifact_path=path),
    )


def test_runs_of_an_experiment_placed_elsewhere_own_their_folders(world: World) -> None:
    team = world.tracking.create_experiment("team", "mlflow-artifacts:/team/vision")
    run = world.tracking.create_run(team, "x", 0, [], "r").info.run_id
    auth = context(world)
    assert auth.experiments_owning_artifact_path(f"team/vision/{run}/artifacts/m.pkl") == (team,)
    assert auth.experiments_owning_artifact_path(f"team/other/{run}/artifacts/m.pkl") == ()
    assert auth.experiments_owning_artifact_path("team/vision/notes.txt") == ()


def test_locations_inside_the_destination_own_their_proxy_paths(world: World) -> None:
    """An experiment whose location names the proxy's storage directly (``file:``, not
    ``mlflow-artifacts:``) owns the same files when they are reached through the proxy."""
    destination = world.folder / "destination"
    located = world.tracking.create_experiment("direct", (destination / "direct").as_uri())
    run = world.tracking.create_run(located, "x", 0, [], "r").info.run_id
    path = f"direct/{run}/artifacts/file.txt"
    auth = context(world, destination=str(destination))
    assert auth.experiments_owning_artifact_path(path) == (located,)
    # Without a destination, such a location is not behind the proxy at all.
    assert context(world).experiments_owning_artifact_path(path) == ()


# -- search filtering helper -------------------------------------------------------------------------


@pytest.mark.parametrize("default", [READ, NO_PERMISSIONS])
def test_readable(shared_world: World, default: str) -> None:
    auth = context(shared_world, default=default)
    e = shared_world.experiment_id
    admin = readable(auth, Principal("admin", is_admin=True), "experiment")
    assert admin.everything and e in admin and "anything" in admin
    for user in ("manager", "editor", "reader"):
        assert e in readable(auth, Principal(user), "experiment")
        assert MODEL in readable(auth, Principal(user), "registered_model")
    assert e not in readable(auth, Principal("blocked"), "experiment")
    assert MODEL not in readable(auth, Principal("blocked"), "registered_model")
    bystander = readable(auth, Principal("bystander"), "experiment")
    assert (e in bystander) is (default == READ)
    assert bystander.everything is (default == READ)


# -- permission changes after a successful call -------------------------------------------------------


def test_the_creator_of_an_experiment_or_model_gets_manage(world: World) -> None:
    auth = context(world)
    reader = Principal("reader")
    created = world.tracking.create_experiment("readers-own")
    rule = AUTHENTICATED.with_effects(Effect.GRANT_EXPERIMENT_TO_CREATOR)
    apply_effects(auth, reader, rule, _f(name="readers-own"), {"experiment_id": created})
    assert world.auth.get_experiment_permission(created, "reader").permission == MANAGE
    authorize(auth, reader, experiment("delete"), _f(experiment_id=created))

    # A permission left over under the same name is raised to MANAGE, not a failure.
    world.auth.create_registered_model_permission("fresh", "reader", NO_PERMISSIONS)
    world.registry.create_registered_model("fresh")
    rule = AUTHENTICATED.with_effects(Effect.GRANT_MODEL_TO_CREATOR)
    apply_effects(auth, reader, rule, _f(name="fresh"), {"registered_model": {"name": "fresh"}})
    assert world.auth.get_registered_model_permission("fresh", "reader").permission == MANAGE


def test_model_permissions_follow_a_rename_and_go_with_a_delete(world: World) -> None:
    auth = context(world)
    manager = Principal("manager")
    world.registry.rename_registered_model(MODEL, "renamed")
    rule = model("update").with_effects(Effect.MOVE_MODEL_PERMISSIONS)
    apply_effects(auth, manager, rule, _f(name=MODEL, new_name="renamed"), {})
    assert world.auth.registered_model_permissions_of("reader") == {"renamed": READ}
    world.registry.delete_registered_model("renamed")
    rule = model("delete").with_effects(Effect.DROP_MODEL_PERMISSIONS)
    apply_effects(auth, manager, rule, _f(name="renamed"), {})
    assert world.auth.list_registered_model_permissions(name="renamed") == []


def test_a_failed_grant_says_what_was_done_and_what_was_not(world: World) -> None:
    auth = context(world)
    created = world.tracking.create_experiment("orphan")
    rule = AUTHENTICATED.with_effects(Effect.GRANT_EXPERIMENT_TO_CREATOR)
    # A principal the permission store does not know (e.g. from a proxy's header).
    with pytest.raises(PermissionsNotUpdated) as caught:
        apply_effects(auth, Principal("ghost"), rule, _f(), {"experiment_id": created})
    assert f"experiment {created} was created" in caught.value.message
    assert "ghost" in caught.value.message
    assert world.auth.list_experiment_permissions(experiment_id=created) == []


# -- declarations that cannot work are refused where they are written -------------------------------


def test_rule_constructors_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="Unknown need 'write'"):
        experiment("write")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an experiment"):
        experiment("read", MODEL_NAME)
    with pytest.raises(ValueError, match="not a model"):
        model("read", RUN_ID)
    with pytest.raises(ValueError, match="resource rules"):
        all_of(experiment("read"), PUBLIC)
    with pytest.raises(ValueError, match="resource rules"):
        all_of()


def test_an_unknown_default_permission_is_refused(shared_world: World) -> None:
    with pytest.raises(InvalidParameter, match="READ, EDIT, MANAGE, NO_PERMISSIONS"):
        context(shared_world, default="WRITE")


def test_store_lookups_that_fail_are_not_read_as_permission(world: World) -> None:
    """A store that cannot answer is an error, never a quiet pass or a quiet 'not found'."""
    auth = context(world)
    world.tracking.close()
    (world.folder / "runlab.db").unlink()  # the database goes away under the store
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        authorize(auth, Principal("reader"), experiment("read", RUN_ID), _f(run_id="e" * 32))


# -- the principal in the ASGI scope -------------------------------------------------------------------


def test_only_an_authenticated_user_object_is_a_principal() -> None:
    alice = Principal("alice", is_admin=True)
    assert principal_of_scope({"user": AuthenticatedUser(alice)}) == alice
    assert principal_of_scope({}) is None

    class Lookalike:  # what some other middleware might put there
        is_authenticated = True
        display_name = "alice"
        is_admin = True

    assert principal_of_scope({"user": Lookalike()}) is None
    user = AuthenticatedUser(alice)
    assert (user.is_authenticated, user.display_name, user.identity) == (True, "alice", "alice")


def test_lookups_are_remembered_only_for_what_never_changes(world: World) -> None:
    auth = context(world)
    assert auth.experiment_of_run(world.run_id) == world.experiment_id
    assert auth.experiment_of_run("e" * 32) is None
    # A run created after a miss is found: misses are not remembered.
    late = world.tracking.create_run(world.experiment_id, "x", int(time.time() * 1000), [], "l")
    assert auth.experiment_of_run(late.info.run_id) == world.experiment_id
    assert auth.experiment_id_by_name("shared") == world.experiment_id
    world.tracking.rename_experiment(world.experiment_id, "renamed")
    assert auth.experiment_id_by_name("shared") is None
    assert auth.experiment_id_by_name("renamed") == world.experiment_id


def test_permissions_are_remembered_briefly_and_forgotten_on_change(world: World) -> None:
    # A training loop's log-batches must not read the permission table each time; a change
    # through the server (forget_permissions) counts at once, one from outside within the TTL.
    now = [1000.0]
    auth = AuthContext(
        world.tracking,
        world.auth,
        default_permission=NO_PERMISSIONS,
        permission_cache_seconds=5.0,
        clock=lambda: now[0],
    )
    rule = experiment("read", EXPERIMENT_ID)
    reader = Principal("reader")
    fields = _f(experiment_id=world.experiment_id)
    world.auth.update_experiment_permission(world.experiment_id, "reader", READ)
    authorize(auth, reader, rule, fields)
    world.auth.update_experiment_permission(world.experiment_id, "reader", NO_PERMISSIONS)
    authorize(auth, reader, rule, fields)  # remembered: an outside change waits for the TTL
    now[0] += 5.1
    with pytest.raises(PermissionDenied):
        authorize(auth, reader, rule, fields)
    world.auth.update_experiment_permission(world.experiment_id, "reader", READ)
    with pytest.raises(PermissionDenied):
        authorize(auth, reader, rule, fields)  # remembered again
    auth.forget_permissions()  # what every change through the server does
    authorize(auth, reader, rule, fields)
