"""``runlab.log_table`` / ``load_table`` (and the Client's): MLflow's table artifacts.

Through ``runlab server``, with MLflow's own ``load_table`` reading runlab's tables and the other
way round, see tests/compat/test_mlflow_client_datasets.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

import runlab
from runlab import uris
from runlab.errors import ArtifactNotFound, InvalidParameter, InvalidState
from runlab.tracking import Client

TAG = "mlflow.loggedArtifacts"


@pytest.fixture
def backend_client(db_url: str) -> Client:
    runlab.set_tracking_uri(db_url)
    return Client(db_url)


def _artifacts(client: Client, run_id: str) -> Path:
    return Path(uris.file_uri_to_path(client.get_run(run_id).info.artifact_uri))


def _files(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_dict_is_written_in_mlflows_layout(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_table({"q": ["a", "b"], "score": [0.5, 1.0]}, "eval/results.json")
    run_id = run.info.run_id
    text = (_artifacts(client, run_id) / "eval" / "results.json").read_text()
    assert json.loads(text) == {"columns": ["q", "score"], "data": [["a", 0.5], ["b", 1.0]]}
    # The tag MLflow's UI and load_table read, spelled as MLflow writes it.
    assert (
        client.get_run(run_id).data.tags[TAG] == '[{"path": "eval/results.json", "type": "table"}]'
    )


def test_rows_are_appended_and_each_table_listed_once(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_table({"q": ["a"], "score": [1]}, "t.json")
        runlab.log_table(pd.DataFrame({"q": ["b", "c"], "score": [2, 3]}), "t.json")
        runlab.log_table({"question": "what?", "n": 1}, "scalars.json")  # scalars: one row
    run_id = run.info.run_id
    data = json.loads((_artifacts(client, run_id) / "t.json").read_text())
    assert data["data"] == [["a", 1], ["b", 2], ["c", 3]]
    scalars = json.loads((_artifacts(client, run_id) / "scalars.json").read_text())
    assert scalars == {"columns": ["question", "n"], "data": [["what?", 1]]}
    assert json.loads(client.get_run(run_id).data.tags[TAG]) == [
        {"path": "t.json", "type": "table"},
        {"path": "scalars.json", "type": "table"},
    ]


def test_the_callers_frame_is_left_alone(client: Client) -> None:
    pil = pytest.importorskip("PIL.Image")
    frame = pd.DataFrame({"image": [pil.new("RGB", (2, 2))], "label": ["x"]})
    with runlab.start_run():
        runlab.log_table(frame, "images.json")
    assert not isinstance(frame["image"][0], dict)


def test_parquet_tables(client: Client) -> None:
    pytest.importorskip("pyarrow")
    with runlab.start_run() as run:
        runlab.log_table({"a": [1, 2]}, "t.parquet")
        runlab.log_table({"a": [3]}, "t.parquet")
    loaded = runlab.load_table("t.parquet", run_ids=[run.info.run_id])
    assert loaded["a"].tolist() == [1, 2, 3]


def test_image_columns_become_image_files(client: Client) -> None:
    pil = pytest.importorskip("PIL.Image")
    big, small = pil.new("RGB", (600, 300), (0, 0, 255)), pil.new("L", (10, 20), 128)
    with runlab.start_run() as run:
        runlab.log_table({"prompt": ["sky", "grey"], "picture": [big, small]}, "gen/out.json")
    folder = _artifacts(client, run.info.run_id)
    table = json.loads((folder / "gen" / "out.json").read_text())
    assert table["columns"] == ["prompt", "picture"]
    cells = [row[1] for row in table["data"]]
    for cell in cells:
        assert cell["type"] == "image"
        assert cell["filepath"].startswith("table_images/gen/out/") and cell["filepath"].endswith(
            ".png"
        )
        assert cell["compressed_filepath"] == cell["filepath"][: -len(".png")] + ".webp"

    def size(path: str) -> tuple[int, int]:
        with pil.open(folder / path) as image:
            return tuple(image.size)

    assert size(cells[0]["filepath"]) == (600, 300)
    assert size(cells[0]["compressed_filepath"]) == (256, 128)
    assert size(cells[1]["compressed_filepath"]) == (10, 20)  # never enlarged
    assert len(_files(folder / "table_images")) == 4


def test_load_table_over_runs_with_extra_columns(backend_client: Client) -> None:
    runlab.set_experiment("tables")
    run_ids = []
    for i in range(3):
        with runlab.start_run() as run:
            runlab.log_param("lr", ("0.1", "0.2", "0.3")[i])
            runlab.log_table({"q": [f"q{i}"], "run_id": [f"mine-{i}"]}, "res_1%.json")
        run_ids.append(run.info.run_id)
    with runlab.start_run():
        # '_' and '%' are LIKE wildcards; this run's table must not match "res_1%.json".
        runlab.log_table({"q": ["other"], "run_id": ["x"]}, "resX1abc.json")

    loaded = runlab.load_table("res_1%.json", extra_columns=["run_id", "params.lr"])
    # Newest run first, as search_runs orders them; a clash gets a trailing underscore.
    assert loaded["q"].tolist() == ["q2", "q1", "q0"]
    assert loaded["run_id"].tolist() == ["mine-2", "mine-1", "mine-0"]
    assert loaded["run_id_"].tolist() == list(reversed(run_ids))
    assert loaded["params.lr"].tolist() == ["0.3", "0.2", "0.1"]

    subset = runlab.load_table("res_1%.json", run_ids=[run_ids[0], run_ids[2]])
    assert sorted(subset["q"]) == ["q0", "q2"] and "run_id_" not in subset.columns
    client_loaded = backend_client.load_table(
        backend_client.get_experiment_by_name("tables").experiment_id,  # type: ignore[union-attr]
        "res_1%.json",
        run_ids=[run_ids[1]],
    )
    assert client_loaded["q"].tolist() == ["q1"]


def test_load_table_warns_about_runs_without_it(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with runlab.start_run() as with_table:
        runlab.log_table({"a": [1]}, "t.json")
    with runlab.start_run() as without:
        pass
    with caplog.at_level(logging.WARNING, logger="runlab"):
        loaded = runlab.load_table("t.json", run_ids=[with_table.info.run_id, without.info.run_id])
    assert loaded["a"].tolist() == [1]
    assert without.info.run_id in caplog.text


def test_client_log_table(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_table(run_id, {"a": [1, 2]}, "c.json")
    assert client.load_table("0", "c.json")["a"].tolist() == [1, 2]


# -- what is refused, and that it leaves nothing behind ------------------------------------------


@pytest.mark.parametrize(
    ("data", "artifact_file", "message"),
    [
        ({"a": [1]}, "table.csv", "a .json or a .parquet"),
        ({"a": [1]}, ".json", "a .json or a .parquet"),
        ({"a": [1]}, "../up.json", r"'\.\.'"),
        ({"a": [1]}, "/abs.json", "absolute"),
        ([1, 2, 3], "t.json", "DataFrame or a dict of columns, got list"),
        ("text", "t.json", "DataFrame or a dict of columns, got str"),
    ],
)
def test_bad_tables_start_no_run(
    client: Client, data: object, artifact_file: str, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        runlab.log_table(data, artifact_file)
    assert runlab.active_run() is None
    assert runlab.search_runs(output_format="list") == []


def _run_is_untouched(client: Client, run_id: str, tags_before: dict[str, str]) -> None:
    assert _files(_artifacts(client, run_id)) == []
    assert client.get_run(run_id).data.tags == tags_before


def test_a_mixed_image_column_writes_nothing(client: Client) -> None:
    pil = pytest.importorskip("PIL.Image")
    run_id = client.create_run("0").info.run_id
    before = client.get_run(run_id).data.tags
    with pytest.raises(InvalidParameter, match="all images or none"):
        client.log_table(run_id, {"pic": [pil.new("RGB", (2, 2)), "not an image"]}, "t.json")
    _run_is_untouched(client, run_id, before)


def test_a_parquet_table_pyarrow_cannot_type_writes_nothing(client: Client) -> None:
    pytest.importorskip("pyarrow")
    run_id = client.create_run("0").info.run_id
    before = client.get_run(run_id).data.tags
    with pytest.raises(InvalidParameter, match="Cannot save the table"):
        client.log_table(run_id, {"mixed": [1, "one"]}, "t.parquet")
    _run_is_untouched(client, run_id, before)


def test_a_foreign_tag_is_never_overwritten(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.set_tag(run_id, TAG, "not json")
    before = client.get_run(run_id).data.tags
    with pytest.raises(InvalidState, match="does not hold a JSON list"):
        client.log_table(run_id, {"a": [1]}, "t.json")
    _run_is_untouched(client, run_id, before)


def test_a_deleted_run_gets_no_table(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.delete_run(run_id)
    before = client.get_run(run_id).data.tags
    with pytest.raises(InvalidState, match="deleted"):
        client.log_table(run_id, {"a": [1]}, "t.json")
    _run_is_untouched(client, run_id, before)


def test_a_corrupt_existing_table_is_not_replaced(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "{broken", "t.json")
    with pytest.raises(InvalidParameter, match="is not a table"):
        client.log_table(run_id, {"a": [1]}, "t.json")
    assert (_artifacts(client, run_id) / "t.json").read_text() == "{broken"
    assert TAG not in client.get_run(run_id).data.tags


def test_a_folder_where_the_table_would_go(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "x", "t.json/inside.txt")
    with pytest.raises(InvalidParameter, match=r"has a folder at 't\.json'"):
        client.log_table(run_id, {"a": [1]}, "t.json")
    assert TAG not in client.get_run(run_id).data.tags


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"artifact_file": "t.txt"}, InvalidParameter, "a .json or a .parquet"),
        ({"artifact_file": "t.json", "run_ids": "abc"}, InvalidParameter, "list of run ids"),
        ({"artifact_file": "t.json", "run_ids": ["x' OR '1"]}, InvalidParameter, "Invalid run id"),
        (
            {"artifact_file": "t.json", "extra_columns": "run_id"},
            InvalidParameter,
            "list of column",
        ),
        ({"artifact_file": "t.json", "extra_columns": ["nope"]}, InvalidParameter, "Unknown extra"),
        ({"artifact_file": "none.json"}, ArtifactNotFound, "has logged the table 'none.json'"),
    ],
)
def test_bad_load_table_calls(
    client: Client, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with runlab.start_run():
        runlab.log_table({"a": [1]}, "t.json")
    with pytest.raises(error, match=message):
        runlab.load_table(**kwargs)  # type: ignore[arg-type]


def test_a_listed_table_whose_file_is_gone(client: Client) -> None:
    with runlab.start_run() as run:
        runlab.log_table({"a": [1]}, "t.json")
    (_artifacts(client, run.info.run_id) / "t.json").unlink()
    with pytest.raises(ArtifactNotFound, match="no such file"):
        runlab.load_table("t.json")
