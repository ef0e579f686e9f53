"""Two ``runlab server`` processes sharing one PostgreSQL database and one S3 artifact store.

This is the deployment of several replicas behind a load balancer: any request may land on any
server. The test writes through both servers at once (metrics, artifacts, model versions) and
then checks that every read, on either server, sees the same complete data.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from runlab.tracking.client import Client
from support.moto_s3 import _DUMMY_AWS_ENV, MotoS3, moto_s3
from support.servers import REPO_ROOT, ServerProcess, free_port

__all__ = ["moto_s3"]  # the session fixture, imported so this module can use it

# The same PostgreSQL server (and override) as the store tests' db_url fixture.
POSTGRES_ADMIN_URL = os.environ.get(
    "RUNLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

T = TypeVar("T")

WORKERS_PER_SERVER = 3
POINTS_PER_WORKER = 40
MODEL_VERSIONS = 10


@dataclass(frozen=True)
class Cluster:
    """Two running servers over one database and one bucket prefix."""

    servers: tuple[ServerProcess, ServerProcess]
    experiment_id: str

    @property
    def urls(self) -> tuple[str, str]:
        return (self.servers[0].url, self.servers[1].url)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    name = f"runlab_multi_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"postgresql server not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    try:
        url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _server(tmp_dir: Path, database_url: str, destination: str, s3: MotoS3) -> ServerProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "runlab.cli.main",
        "server",
        "--backend-store-uri",
        database_url,
        "--artifacts-destination",
        destination,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    # The server must not pick up the test's tracking settings, nor the machine's AWS setup.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RUNLAB_", "MLFLOW_", "AWS_")) and k.lower() != "no_proxy"
    }
    env.update(_DUMMY_AWS_ENV)
    env["RUNLAB_S3_ENDPOINT_URL"] = s3.endpoint_url
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return ServerProcess(
        argv, port, tmp_dir / f"runlab-server-{port}.log", startup_timeout=60.0, env=env
    )


@pytest.fixture(scope="module")
def cluster(
    postgres_database: str, moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two servers on different ports over the same database and S3 prefix."""
    tmp_dir = tmp_path_factory.mktemp("multi-server")
    destination = f"s3://{moto_s3.bucket}/multi-server/{uuid.uuid4().hex}"
    first = _server(tmp_dir, postgres_database, destination, moto_s3)
    second = _server(tmp_dir, postgres_database, destination, moto_s3)
    # The first start creates the schema; the second then finds it up to date.
    first.start()
    try:
        second.start()
        try:
            experiment_id = Client(first.url).create_experiment(f"multi-{uuid.uuid4().hex[:8]}")
            yield Cluster((first, second), experiment_id)
        finally:
            second.stop()
    finally:
        first.stop()


def _in_parallel(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread at once; re-raise the first failure."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result(timeout=300) for future in futures]


def test_runs_metrics_and_params_agree_on_both_servers(cluster: Cluster) -> None:
    first_url, second_url = cluster.urls
    creator = Client(first_url)
    run_ids = [creator.create_run(cluster.experiment_id).info.run_id for _ in range(2)]
    for index, run_id in enumerate(run_ids):
        creator.log_param(run_id, "index", index)
        Client(second_url).log_param(run_id, "via", "second")

    def worker(url: str, worker_id: int) -> Callable[[], None]:
        def log() -> None:
            client = Client(url)  # one client per thread, as separate processes would have
            for i in range(POINTS_PER_WORKER):
                step = worker_id * 1000 + i
                for run_id in run_ids:
                    client.log_metric(run_id, "loss", step / 7, timestamp=1_000 + step, step=step)
                    client.log_metric(run_id, f"w{worker_id}", float(i), step=i)

        return log

    calls = [
        worker(url, server_index * WORKERS_PER_SERVER + n)
        for server_index, url in enumerate(cluster.urls)
        for n in range(WORKERS_PER_SERVER)
    ]
    _in_parallel(calls)

    expected_loss = sorted(
        (w * 1000 + i, (w * 1000 + i) / 7, 1_000 + w * 1000 + i)
        for w in range(len(calls))
        for i in range(POINTS_PER_WORKER)
    )
    for url in cluster.urls:
        client = Client(url)
        for index, run_id in enumerate(run_ids):
            run = client.get_run(run_id)
            assert run.data.params == {"index": str(index), "via": "second"}
            history = client.get_metric_history(run_id, "loss")
            points = sorted((m.step, m.value, m.timestamp) for m in history)
            # Every point exactly once: no loss, no duplicate, whichever server took it.
            assert points == expected_loss
            for w in range(len(calls)):
                steps = sorted(m.step for m in client.get_metric_history(run_id, f"w{w}"))
                assert steps == list(range(POINTS_PER_WORKER))
    # Both servers answer a search identically.
    found = [
        sorted(r.info.run_id for r in Client(url).search_runs([cluster.experiment_id]))
        for url in cluster.urls
    ]
    assert found[0] == found[1]
    assert set(run_ids) <= set(found[0])


def test_artifacts_logged_through_either_server_are_seen_by_both(
    cluster: Cluster, tmp_path: Path
) -> None:
    first_url, second_url = cluster.urls
    run_id = Client(first_url).create_run(cluster.experiment_id).info.run_id

    def upload(url: str, name: str) -> Callable[[], None]:
        def log() -> None:
            client = Client(url)
            for n in range(5):
                client.log_text(run_id, f"{name}-{n} from {url}\n" * 50, f"{name}/file-{n}.txt")

        return log

    _in_parallel([upload(first_url, "one"), upload(second_url, "two")])

    listings = []
    contents = []
    for index, url in enumerate(cluster.urls):
        client = Client(url)
        listing = {
            folder: sorted(
                (f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, folder)
            )
            for folder in ("one", "two")
        }
        listings.append(listing)
        downloaded = {}
        for folder in ("one", "two"):
            local = Path(client.download_artifacts(run_id, folder, str(tmp_path / f"d{index}")))
            downloaded.update(
                {
                    p.relative_to(local.parent).as_posix(): p.read_text()
                    for p in local.rglob("*.txt")
                }
            )
        contents.append(downloaded)
    assert listings[0] == listings[1]
    assert [p for p, _, _ in listings[0]["one"]] == [f"one/file-{n}.txt" for n in range(5)]
    assert contents[0] == contents[1]
    assert len(contents[0]) == 10
    assert contents[0]["two/file-3.txt"] == f"two-3 from {second_url}\n" * 50


def test_model_versions_created_on_both_servers_are_numbered_without_gaps(
    cluster: Cluster,
) -> None:
    first_url, second_url = cluster.urls
    first = Client(first_url)
    run_id = first.create_run(cluster.experiment_id).info.run_id
    first.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    source = f"{first.get_run(run_id).info.artifact_uri}/model"
    name = f"shared-model-{uuid.uuid4().hex[:8]}"
    first.create_registered_model(name)

    def register(url: str) -> Callable[[], int]:
        def create() -> int:
            return Client(url).create_model_version(name, source, run_id=run_id).version

        return create

    created = _in_parallel([register(cluster.urls[i % 2]) for i in range(MODEL_VERSIONS)])
    # Each concurrent request got its own number, and together they are 1..N.
    assert sorted(created) == list(range(1, MODEL_VERSIONS + 1))

    second = Client(second_url)
    first.transition_model_version_stage(name, 1, "Staging")
    second.transition_model_version_stage(name, 2, "Production")
    first.set_registered_model_alias(name, "champion", 3)
    second.set_registered_model_alias(name, "challenger", 4)

    views = []
    for url in cluster.urls:
        client = Client(url)
        versions = client.search_model_versions(f"name = '{name}'")
        numbers = sorted(int(v.version) for v in versions)
        assert numbers == list(range(1, MODEL_VERSIONS + 1))
        stages = {int(v.version): v.current_stage for v in versions}
        assert stages[1] == "Staging"
        assert stages[2] == "Production"
        assert all(stages[n] == "None" for n in range(3, MODEL_VERSIONS + 1))
        assert client.get_model_version_by_alias(name, "champion").version == 3
        assert client.get_model_version_by_alias(name, "challenger").version == 4
        model = client.get_registered_model(name)
        assert model.aliases == {"champion": 3, "challenger": 4}
        views.append((numbers, sorted(stages.items()), sorted(model.aliases.items())))
    assert views[0] == views[1]
