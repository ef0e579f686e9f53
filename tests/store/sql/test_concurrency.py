"""Several processes writing to one SQLite file at once: nobody fails, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from runlab.store.sql.tracking import SqlTrackingStore

WRITER = textwrap.dedent(
    """
    import sys, time
    from runlab.entities import Metric, Param, RunTag
    from runlab.store.sql.tracking import SqlTrackingStore

    url, root, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqlTrackingStore(url, root)
    exp_id = store.get_experiment_by_name("shared") or None
    if exp_id is None:
        try:
            store.create_experiment("shared")
        except Exception:
            pass
    exp = store.get_experiment_by_name("shared")
    run = store.create_run(exp.experiment_id, f"w{worker}", 0, [], f"worker-{worker}")
    for batch in range(150):
        store.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{k}", float(batch), batch, batch) for k in range(8)],
            params=[Param(f"p{batch}", str(worker))],
            tags=[RunTag("progress", str(batch))],
        )
    store.update_run_info(run.info.run_id, "FINISHED", int(time.time() * 1000))
    print(run.info.run_id)
    """
)


def test_four_processes_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    root = (tmp_path / "artifacts").as_uri()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, root, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    run_ids = [out.strip() for out, _ in results]
    store = SqlTrackingStore(url, root)
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert len(run.data.params) == 150
        assert run.data.tags["progress"] == "149"
        for k in range(8):
            history = store.get_metric_history(run_id, f"m{k}")
            assert [m.step for m in history] == list(range(150))
    store.close()
