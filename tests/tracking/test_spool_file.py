"""The spool file format: record lines grouped into batches, locks, torn lines, compaction."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from runlab.entities import Metric, Param, RunTag
from runlab.errors import InvalidParameter, InvalidState, NotFound
from runlab.tracking.batch_writer import END, METRIC, PARAM, TAG, Batch
from runlab.tracking.spool_file import (
    CLOSED,
    OPENED,
    Counts,
    SpoolFile,
    canonical_uri,
    encode_batch,
    encode_record,
    encode_state,
    in_use,
    pending_spools,
)

RUN_A = "a" * 32
RUN_B = "b" * 32
URI = "sqlite:////data/runs.db"


def _journal(tmp_path: Path) -> SpoolFile:
    return SpoolFile.create(tmp_path / "spool", URI)


def _append(spool: SpoolFile, run_id: str, kind: int, entity: object) -> None:
    spool.append_line(encode_record(run_id, kind, entity), kind)


def _batches(spool: SpoolFile) -> list[Batch]:
    return [batch for batch, _ in spool.lines()]


def test_records_of_one_run_form_one_batch_up_to_the_store_limits(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    spool.append_line(encode_state(OPENED, RUN_A), OPENED)
    for step in range(2500):
        _append(spool, RUN_A, METRIC, Metric("loss", step / 7, 1_000 + step, step))
    _append(spool, RUN_A, PARAM, Param("lr", "0.1"))
    _append(spool, RUN_A, TAG, RunTag("t", "1"))
    batches = _batches(spool)
    assert [len(b.metrics) for b in batches] == [1000, 1000, 500]
    assert batches[-1].params == [Param("lr", "0.1")]
    assert batches[-1].tags == [RunTag("t", "1")]
    # The points come back exactly as logged, in order.
    points = [m for b in batches for m in b.metrics]
    assert points == [Metric("loss", step / 7, 1_000 + step, step) for step in range(2500)]
    assert spool.counts.metrics == 2500 and spool.counts.params == 1 and spool.counts.tags == 1
    spool.close(remove=True)


def test_a_batch_ends_where_the_run_changes_and_a_run_end_goes_alone(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    _append(spool, RUN_A, METRIC, Metric("m", 1.0, 1, 0))
    _append(spool, RUN_B, METRIC, Metric("m", 2.0, 2, 0))
    _append(spool, RUN_B, TAG, RunTag("t", "x"))
    _append(spool, RUN_B, END, ("FINISHED", 99))
    _append(spool, RUN_A, METRIC, Metric("m", 3.0, 3, 1))
    batches = _batches(spool)
    assert [(b.run_id, b.size, b.end) for b in batches] == [
        (RUN_A, 1, None),
        (RUN_B, 2, None),
        (RUN_B, 0, ("FINISHED", 99)),
        (RUN_A, 1, None),
    ]
    spool.close(remove=True)


def test_params_and_tags_are_grouped_the_way_the_store_applies_them(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    _append(spool, RUN_A, TAG, RunTag("progress", "1"))
    _append(spool, RUN_A, PARAM, Param("lr", "0.1"))
    _append(spool, RUN_A, PARAM, Param("lr", "0.1"))  # the same value again: kept once
    _append(spool, RUN_A, TAG, RunTag("progress", "2"))  # a later value wins
    _append(spool, RUN_A, PARAM, Param("lr", "0.2"))  # a change: the store must judge it alone
    first, second = _batches(spool)
    assert first.params == [Param("lr", "0.1")]
    assert first.tags == [RunTag("progress", "2")]
    assert second.params == [Param("lr", "0.2")]
    spool.close(remove=True)


def test_special_values_and_model_fields_survive_the_round_trip(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    points = [
        Metric("m", float("inf"), 1, 0),
        Metric("m", float("-inf"), 2, 1),
        Metric("m", 1e-300, 3, 2, dataset_name="train", dataset_digest="d1", model_id="m-1"),
    ]
    for point in points:
        _append(spool, RUN_A, METRIC, point)
    _append(spool, RUN_A, METRIC, Metric("nan", float("nan"), 4, 3))
    (batch,) = _batches(spool)
    assert batch.metrics[:3] == points
    assert batch.metrics[3].value != batch.metrics[3].value  # NaN
    spool.close(remove=True)


def test_advance_marks_bytes_delivered_for_a_later_reader(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    for step in range(1500):
        _append(spool, RUN_A, METRIC, Metric("m", 1.0, 1, step))
    batch, nbytes = spool.read_next() or pytest.fail("nothing to read")
    spool.advance(nbytes, Counts.of([batch]))
    path = spool.path
    spool.close(remove=False)

    again = SpoolFile.open(path)
    assert again.counts.metrics == 500
    (rest,) = _batches(again)
    assert [m.step for m in rest.metrics] == list(range(1000, 1500))
    again.close(remove=True)
    assert list(path.parent.iterdir()) == []  # the sidecar went with it


def test_a_live_owner_keeps_its_file_from_being_opened(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    assert in_use(spool.path)
    with pytest.raises(InvalidState, match="still running"):
        SpoolFile.open(spool.path)
    # Reading without the lock is allowed: recovery peeks at live files' open runs.
    spool.append_line(encode_state(OPENED, RUN_A), OPENED)
    peek = SpoolFile.open(spool.path, lock=False)
    assert list(peek.open_runs) == [RUN_A]
    peek.close(remove=False)
    spool.close(remove=False)
    assert not in_use(spool.path)
    SpoolFile.open(spool.path).close(remove=True)
    with pytest.raises(NotFound, match="delivered already"):
        SpoolFile.open(spool.path)


def test_open_runs_are_the_ones_opened_and_not_ended(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    for run_id in (RUN_A, RUN_B, "c" * 32):
        spool.append_line(encode_state(OPENED, run_id), OPENED)
    spool.append_line(encode_state(CLOSED, RUN_A), CLOSED)
    _append(spool, RUN_B, END, ("FAILED", 5))
    spool.close(remove=False)
    reopened = SpoolFile.open(spool.path)
    assert list(reopened.open_runs) == ["c" * 32]
    assert reopened.counts.run_ends == 1
    reopened.close(remove=True)


def test_a_torn_last_line_is_ignored_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    _append(spool, RUN_A, METRIC, Metric("m", 1.0, 1, 0))
    path = spool.path
    spool.close(remove=False)
    with path.open("ab") as handle:  # a crash in the middle of an append
        handle.write(encode_record(RUN_A, METRIC, Metric("m", 2.0, 2, 1))[:20])
    torn = SpoolFile.open(path)
    assert torn.counts.metrics == 1
    assert [b.metrics for b in _batches(torn)] == [[Metric("m", 1.0, 1, 0)]]
    torn.close(remove=False)

    with path.open("ab") as handle:
        handle.write(b"\nnot json\n")
        handle.write(encode_record(RUN_A, METRIC, Metric("m", 3.0, 3, 2)))
    with pytest.raises(InvalidParameter, match="damaged at byte"):
        SpoolFile.open(path)
    assert not in_use(path)  # the refused file was not left locked


def test_a_file_that_is_not_a_spool_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.spool"
    path.write_bytes(b'{"something": "else"}\n')
    with pytest.raises(InvalidParameter, match="not a runlab spool file"):
        SpoolFile.open(path)
    path.write_bytes(b"")
    with pytest.raises(InvalidParameter, match="not a runlab spool file"):
        SpoolFile.open(path)


def test_format_1_files_of_spilled_batches_are_still_read(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    path = folder / "old.spool"
    header = {"runlab_spool": 1, "tracking_uri": "http://h:5000", "pid": 1, "created_ms": 0}
    batch = Batch(RUN_A, [Metric("m", 1.5, 9, 3)], [Param("p", "v")], [], end=("KILLED", 10))
    path.write_bytes(orjson.dumps(header) + b"\n" + encode_batch(batch))
    spool = SpoolFile.open(path)
    (read,) = _batches(spool)
    assert (read.metrics, read.params, read.end) == (batch.metrics, batch.params, batch.end)
    assert spool.tracking_uri == "http://h:5000"
    spool.close(remove=False)
    assert pending_spools(folder) == [path]


def test_compaction_keeps_the_open_runs_and_survives_a_crash_half_way(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    spool.append_line(encode_state(OPENED, RUN_A), OPENED)
    for step in range(200):
        _append(spool, RUN_A, METRIC, Metric("m", 1.0, 1, step))
    while (item := spool.read_next()) is not None:
        spool.advance(item[1], Counts.of([item[0]]))
    old_size = spool.size
    spool.compact(encode_state(OPENED, RUN_A))
    assert spool.size < old_size and not spool.pending
    assert in_use(spool.path)  # the new file is locked before it takes the old one's place
    # A crash between the rename and the sidecar's update leaves the old sidecar: at least the
    # new size, so nothing counts as undelivered.
    sent = spool.path.with_name(spool.path.name + ".sent")
    sent.write_text(str(old_size))
    spool.close(remove=False)
    reopened = SpoolFile.open(spool.path)
    assert not reopened.pending and reopened.counts.empty
    assert list(reopened.open_runs) == [RUN_A]
    reopened.close(remove=True)


def test_compaction_refuses_a_file_with_undelivered_records(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    _append(spool, RUN_A, METRIC, Metric("m", 1.0, 1, 0))
    with pytest.raises(InvalidState, match="undelivered"):
        spool.compact(b"")
    assert spool.counts.metrics == 1
    spool.close(remove=True)


def test_files_are_private_to_their_user(tmp_path: Path) -> None:
    spool = _journal(tmp_path)
    assert spool.path.stat().st_mode & 0o777 == 0o600
    assert spool.path.parent.stat().st_mode & 0o777 == 0o700
    spool.close(remove=True)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://host:5000/", "http://host:5000"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///runs.db", "sqlite:///{cwd}/runs.db"),
        ("sqlite:///runs.db?timeout=5", "sqlite:///{cwd}/runs.db?timeout=5"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("mlruns", "sqlite:///{cwd}/mlruns/runlab.db"),
    ],
)
def test_canonical_uri_gives_one_spelling_per_store(
    given: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cwd = os.path.realpath(tmp_path)
    assert canonical_uri(given) == expected.format(cwd=cwd)
    assert canonical_uri((tmp_path / "mlruns").as_uri()) == f"sqlite:///{cwd}/mlruns/runlab.db"
