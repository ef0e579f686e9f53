"""Tables as run artifacts: ``log_table`` and ``load_table``, in MLflow's table format.

A table is a JSON file in pandas' "split" layout without the index, ``{"columns": [...],
"data": [[...], ...]}``, or a Parquet file, as the file name's extension says. Logging to a file
the run already has appends the new rows to it. Each table is listed in the run tag
``mlflow.loggedArtifacts``, a JSON list of ``{"path": ..., "type": "table"}`` entries: that is
how ``load_table`` finds the runs that have one, and how MLflow's UI shows them.

A column of images (PIL images, or anything with ``save``, ``resize`` and ``size``) is stored as
image files under ``table_images/<table name>/``: a PNG, and a WebP preview at most 256 pixels
across. The cell holds ``{"type": "image", "filepath": ..., "compressed_filepath": ...}``.

Everything is checked before anything is written: the run (it must be active), the data, the
existing table and the tag. A table that cannot be written leaves the run as it was.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from runlab.artifacts._optional import require
from runlab.artifacts.path_safety import validate_artifact_path
from runlab.entities import Run, ViewType
from runlab.errors import ArtifactNotFound, InvalidParameter, InvalidState
from runlab.validation import validate_run_id, validate_tag

if TYPE_CHECKING:
    from runlab.tracking.client import Client

__all__ = [
    "LOGGED_ARTIFACTS_TAG",
    "check_table_data",
    "check_table_file",
    "load_table",
    "log_table",
]

_logger = logging.getLogger("runlab")

#: The run tag listing the tables a run logged (MLflow's name and format).
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
_TABLE_SUFFIXES = (".json", ".parquet")
#: The longest side of an image's preview in a table, in pixels.
_PREVIEW_SIZE = 256
_SEARCH_PAGE = 1000


def check_table_file(artifact_file: Any) -> str:
    """``artifact_file`` as a normalized artifact path; InvalidParameter unless it names a
    .json or .parquet file."""
    path = validate_artifact_path(artifact_file)
    if PurePosixPath(path).suffix.lower() not in _TABLE_SUFFIXES or not PurePosixPath(path).stem:
        raise InvalidParameter(
            f"Invalid table file {artifact_file!r}: a table is saved as a .json or a .parquet "
            "file, e.g. 'eval/results.json'."
        )
    return path


def check_table_data(data: Any) -> None:
    """InvalidParameter unless ``data`` is a pandas DataFrame or a dict (pandas not imported)."""
    if isinstance(data, dict) or any(
        c.__name__ == "DataFrame" and c.__module__.startswith("pandas") for c in type(data).__mro__
    ):
        return
    raise InvalidParameter(
        f"log_table takes a pandas DataFrame or a dict of columns, got {type(data).__name__}."
    )


def _pandas(purpose: str) -> Any:
    return require("pandas", "pandas", purpose)


def _frame(pd: Any, data: Any) -> Any:
    """``data`` as a new DataFrame (the caller's is never changed)."""
    if isinstance(data, pd.DataFrame):
        return data.copy()
    check_table_data(data)
    try:
        return pd.DataFrame(data)
    except ValueError:
        # A dict of scalars ({"question": "...", "score": 1}) is one row.
        return pd.DataFrame([data])


def _is_image(value: Any) -> bool:
    return all(callable(getattr(value, name, None)) for name in ("save", "resize")) and hasattr(
        value, "size"
    )


def _image_files(frame: Any, table: str) -> list[tuple[str, bytes]]:
    """Replace image cells by references and return the image files to write.

    Every image is encoded here, before anything is written, so a bad one stops the call.
    """
    files: list[tuple[str, bytes]] = []
    folder = "table_images/" + table.rsplit(".", 1)[0]
    for column in frame.columns:
        cells = frame[column]
        if cells.dtype != object:
            continue
        images = [_is_image(value) for value in cells]
        if not any(images):
            continue
        if not all(images):
            raise InvalidParameter(
                f"Column {column!r} of the table holds images and other values; a column is "
                "either all images or none."
            )
        references = []
        for image in cells:
            stem = f"{folder}/{uuid.uuid4().hex}"
            files.append((f"{stem}.png", _encode_image(image, "PNG", column)))
            files.append((f"{stem}.webp", _encode_image(_preview(image), "WEBP", column)))
            references.append(
                {"type": "image", "filepath": f"{stem}.png", "compressed_filepath": f"{stem}.webp"}
            )
        frame[column] = references
    return files


def _preview(image: Any) -> Any:
    """``image`` scaled so its longer side is at most _PREVIEW_SIZE pixels."""
    width, height = image.size
    scale = _PREVIEW_SIZE / max(width, height, 1)
    if scale >= 1:
        return image
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))))


def _encode_image(image: Any, image_format: str, column: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=image_format)
    except (OSError, ValueError, KeyError) as error:
        raise InvalidParameter(
            f"Cannot save an image of column {column!r} as {image_format}: {error}"
        ) from None
    return buffer.getvalue()


def _encode_table(frame: Any, path: str) -> bytes:
    if path.lower().endswith(".json"):
        try:
            return str(frame.to_json(orient="split", index=False, date_format="iso")).encode()
        except (TypeError, ValueError, OverflowError) as error:
            raise InvalidParameter(
                f"Cannot save the table as {path!r}: a value is not JSON serializable ({error})."
            ) from None
    require("pyarrow", "models", "A .parquet table")
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
    except (TypeError, ValueError) as error:
        raise InvalidParameter(f"Cannot save the table as {path!r}: {error}") from None
    except Exception as error:
        # pyarrow's own errors (ArrowInvalid, ArrowTypeError) for columns it cannot type.
        if type(error).__module__.startswith("pyarrow"):
            raise InvalidParameter(f"Cannot save the table as {path!r}: {error}") from None
        raise
    return buffer.getvalue()


def _decode_table(pd: Any, content: bytes, path: str, where: str) -> Any:
    try:
        if path.lower().endswith(".json"):
            return pd.read_json(io.StringIO(content.decode("utf-8")), orient="split")
        require("pyarrow", "models", "A .parquet table")
        return pd.read_parquet(io.BytesIO(content))
    except (ValueError, UnicodeDecodeError, KeyError) as error:
        raise InvalidParameter(
            f"The artifact {path!r} of {where} is not a table: {error}"
        ) from None
    except Exception as error:
        if type(error).__module__.startswith("pyarrow"):
            raise InvalidParameter(
                f"The artifact {path!r} of {where} is not a table: {error}"
            ) from None
        raise


def _read_table(pd: Any, repo: Any, path: str, where: str) -> Any | None:
    """The table at ``path`` in ``repo``, or None when there is no file there."""
    parent = path.rpartition("/")[0]
    entry = next((e for e in repo.list_artifacts(parent or None) if e.path == path), None)
    if entry is None:
        return None
    if entry.is_dir:
        raise InvalidParameter(
            f"{where} has a folder at {path!r}, so no table can be saved or read there."
        )
    with tempfile.TemporaryDirectory(prefix="runlab-table-") as scratch:
        content = Path(repo.download_artifacts(path, scratch)).read_bytes()
    return _decode_table(pd, content, path, where)


def _table_entries(run: Run) -> list[Any]:
    text = run.data.tags.get(LOGGED_ARTIFACTS_TAG)
    if not text:
        return []
    try:
        entries = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        entries = None
    if not isinstance(entries, list):
        # Never overwrite what is there: someone set this tag to something else.
        raise InvalidState(
            f"Run {run.info.run_id}'s tag {LOGGED_ARTIFACTS_TAG} does not hold a JSON list, so "
            "the table cannot be recorded in it. Delete or fix the tag, then log the table again."
        )
    return entries


def _entry(path: str) -> dict[str, str]:
    return {"path": path, "type": "table"}


def log_table(client: Client, run_id: str, data: Any, artifact_file: str) -> None:
    """Save ``data`` (a DataFrame or a dict of columns) as the table ``artifact_file`` of a run.

    Rows are appended when the run already has that table. See the module docstring for the
    format and the run tag.
    """
    path = check_table_file(artifact_file)
    validate_run_id(run_id)
    pd = _pandas("log_table")
    frame = _frame(pd, data)
    images = _image_files(frame, path)
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != "active":
        raise InvalidState(
            f"Run {run_id} is deleted, so no table can be logged to it; restore it first."
        )
    entries = _table_entries(run)
    tag_value = None
    if _entry(path) not in entries:
        tag_value = validate_tag(LOGGED_ARTIFACTS_TAG, json.dumps([*entries, _entry(path)]))
    with client._artifact_repo(run_id) as repo:
        existing = _read_table(pd, repo, path, f"run {run_id}")
        if existing is not None:
            frame = pd.concat([existing, frame], ignore_index=True)
        content = _encode_table(frame, path)
        for image_path, image_bytes in images:
            repo.log_bytes(image_bytes, image_path)
        repo.log_bytes(content, path)
    if tag_value is not None:
        client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, tag_value)


def _like_literal(text: str) -> str:
    """``text`` matched literally inside a quoted LIKE pattern of a filter string."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("'", "''")


def _table_filter(path: str, run_ids: Sequence[str] | None) -> str:
    # The tag holds JSON, so the path is matched in its JSON spelling. The pattern allows any
    # spacing around the separators, as other writers of the tag may format it differently;
    # the entries of each run found are checked exactly afterwards.
    encoded = _like_literal(json.dumps(path)[1:-1])
    pattern = f'%"path"%:%"{encoded}",%"type"%:%"table"%'
    text = f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '{pattern}'"
    if run_ids:
        text += " AND attributes.run_id IN (" + ", ".join(f"'{r}'" for r in run_ids) + ")"
    return text


def _has_table(run: Run, path: str) -> bool:
    try:
        return _entry(path) in _table_entries(run)
    except InvalidState:
        return False


def _checked_run_ids(run_ids: Any) -> list[str] | None:
    if run_ids is None:
        return None
    if isinstance(run_ids, str) or not isinstance(run_ids, Sequence):
        raise InvalidParameter(
            f"run_ids must be a list of run ids, got {type(run_ids).__name__}; wrap one id in "
            "a list."
        )
    # validate_run_id keeps quotes out of the filter string built from them.
    return list(dict.fromkeys(validate_run_id(r) for r in run_ids))


def _checked_columns(extra_columns: Any) -> list[str]:
    if extra_columns is None:
        return []
    if isinstance(extra_columns, str) or not isinstance(extra_columns, Sequence):
        raise InvalidParameter(
            f"extra_columns must be a list of column names such as ['run_id'], got "
            f"{type(extra_columns).__name__}."
        )
    for column in extra_columns:
        if not isinstance(column, str):
            raise InvalidParameter(f"extra_columns holds {column!r}, which is not a name.")
    return list(extra_columns)


def load_table(
    client: Client,
    experiment_id: str,
    artifact_file: str,
    run_ids: Sequence[str] | None = None,
    extra_columns: Sequence[str] | None = None,
) -> Any:
    """The table ``artifact_file`` of the experiment's runs, as one pandas DataFrame.

    Reads the runs that logged that table (newest first), or only those of ``run_ids``.
    ``extra_columns`` adds columns from the runs (any column of
    :func:`runlab.search_runs`'s DataFrame: ``run_id``, ``status``, ``params.lr``, …); a name
    the table already has gets a trailing underscore. ArtifactNotFound when no run has it.
    """
    path = check_table_file(artifact_file)
    ids = _checked_run_ids(run_ids)
    columns = _checked_columns(extra_columns)
    pd = _pandas("load_table")
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=_table_filter(path, ids),
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_SEARCH_PAGE,
            page_token=token,
        )
        runs.extend(run for run in page if _has_table(run, path))
        token = page.token
        if not token:
            break
    if ids and len(runs) != len(ids):
        found = {run.info.run_id for run in runs}
        _logger.warning(
            "load_table: %d of the runs given have no table %r and are skipped: %s",
            len(ids) - len(found),
            path,
            ", ".join(r for r in ids if r not in found),
        )
    if not runs:
        raise ArtifactNotFound(
            f"No active run of experiment {experiment_id}"
            + (" among the run ids given" if ids else "")
            + f" has logged the table {path!r} (runs list their tables in the tag "
            f"{LOGGED_ARTIFACTS_TAG})."
        )
    info = None
    if columns:
        from runlab.tracking.fluent_search import runs_to_dataframe

        info = runs_to_dataframe(runs)
        unknown = [c for c in columns if c not in info.columns]
        if unknown:
            raise InvalidParameter(
                f"Unknown extra column(s) {unknown}; the runs have: "
                + ", ".join(map(str, info.columns))
                + "."
            )
    frames = []
    for i, run in enumerate(runs):
        run_id = run.info.run_id
        with client._artifact_repo(run_id) as repo:
            frame = _read_table(pd, repo, path, f"run {run_id}")
        if frame is None:
            raise ArtifactNotFound(
                f"Run {run_id} lists the table {path!r} in its tag {LOGGED_ARTIFACTS_TAG}, but "
                "its artifacts have no such file."
            )
        if info is not None:
            for column in columns:
                name = column
                if name in frame.columns:
                    name = f"{column}_"
                    _logger.warning(
                        "load_table: the table already has a column %r; the run's value goes "
                        "into %r.",
                        column,
                        name,
                    )
                frame[name] = info.iloc[i][column]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
