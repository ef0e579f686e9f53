"""Entry-point parameters: types, defaults, required values, paths and URIs, quoting.

The quoting tests run the computed command with bash, as the environments do, with a program
that writes its arguments to a file, in a throw-away HOME with a canary file: a value that
escaped its quotes would show up as a missing canary, a stray file or different arguments.
Paths given as URIs are downloaded from a real run's artifacts in a fresh SQLite store.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import runlab
from runlab.errors import InvalidParameter
from runlab.projects.parameters import check_value, extra_arguments, value_text
from runlab.projects.spec import EntryPoint, load_project
from runlab.projects.spec_yaml import MLprojectError

# clean_env (autouse): no RUNLAB_/MLFLOW_ variables, the working directory in tmp_path.
from support.tracking_state import clean_env, tracking_uri  # noqa: F401  (fixtures)


def _write(folder: Path, mlproject: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLproject").write_text(mlproject, encoding="utf-8")
    return folder


TYPED = """\
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      epochs: {type: int, default: 3}
      name: string
      data: path
      model: {type: uri, default: models/out}
    command: "train --alpha {alpha} --epochs {epochs} --name {name} --data {data} --model {model}"
"""


@pytest.fixture
def typed(tmp_path: Path) -> EntryPoint:
    return load_project(_write(tmp_path / "proj", TYPED)).get_entry_point("main")


# -- types -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3", "+12", "007", "12345678901234567890"])
def test_int_values(value: str) -> None:
    assert check_value("int", value) is None


@pytest.mark.parametrize("value", ["1.5", "1e3", "", " 1", "one", "0x10", "1_000"])
def test_values_that_are_not_ints(value: str) -> None:
    assert check_value("int", value) == f"expected an int (like 3 or -10), got {value!r}"


@pytest.mark.parametrize("value", ["0.5", "-2", "1e-3", "+.5", "3.", "1E+10", "inf", "-NaN"])
def test_float_values(value: str) -> None:
    assert check_value("float", value) is None


@pytest.mark.parametrize("value", ["", "abc", "1,5", "1e", ".", "0.5 ", "1_0.0", "--1"])
def test_values_that_are_not_floats(value: str) -> None:
    assert "expected a float" in str(check_value("float", value))


def test_strings_take_anything_and_paths_and_uris_need_a_value() -> None:
    assert check_value("string", "") is None
    assert check_value("path", "") == "expected a path, got an empty value"
    assert check_value("uri", "") == "expected a uri, got an empty value"


def test_values_are_text() -> None:
    # From the Python API, numbers are accepted and passed as MLflow passes them: str().
    assert [value_text("a", v) for v in (0.5, 3, True, "x")] == ["0.5", "3", "True", "x"]
    with pytest.raises(InvalidParameter, match="'a' has no value"):
        value_text("a", None)
    with pytest.raises(InvalidParameter, match="NUL character"):
        value_text("a", "x\x00y")


# -- computing the command -------------------------------------------------------------------------


def test_defaults_fill_in_and_given_values_win(typed: EntryPoint, tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("x\n")
    command, values = typed.compute_command(
        {"name": "run one", "data": "train.csv", "epochs": 7}, tmp_path / "store"
    )
    assert values == {
        "alpha": "0.5",
        "epochs": "7",
        "name": "run one",
        "data": str(tmp_path / "train.csv"),  # given values are read from the current folder
        "model": str(tmp_path / "proj" / "models" / "out"),  # defaults, from the project's
    }
    assert command == (
        f"train --alpha 0.5 --epochs 7 --name 'run one' --data {tmp_path / 'train.csv'} "
        f"--model {tmp_path / 'proj' / 'models' / 'out'}"
    )
    assert not (tmp_path / "store").exists()  # nothing was downloaded, so nothing made


def test_missing_required_values_are_all_named(typed: EntryPoint, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as caught:
        typed.compute_command({"alpha": "1"}, tmp_path / "store")
    assert str(caught.value) == (
        "Entry point 'main' needs a value for its required parameter(s) 'name' (string), "
        "'data' (path): pass -P name=... -P data=...."
    )
    assert not (tmp_path / "store").exists()


def test_ill_typed_values_are_all_named_before_anything_runs(
    typed: EntryPoint, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        typed.compute_command(
            {"alpha": "fast", "epochs": "2.5", "name": "n", "data": "runs:/0123/x"},
            tmp_path / "store",
        )
    message = str(caught.value)
    assert message.startswith("Invalid parameter value(s) for entry point 'main': ")
    assert "'alpha' (float): expected a float (like 0.5, 1e-3 or 2), got 'fast'" in message
    assert "'epochs' (int): expected an int (like 3 or -10), got '2.5'" in message
    # The types were checked before the path was looked at: no download was tried.
    assert not (tmp_path / "store").exists()


def test_an_empty_parameter_name_is_refused(typed: EntryPoint, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="A parameter name cannot be empty"):
        typed.compute_command({"": "x", "name": "n", "data": "."}, tmp_path / "store")


def test_undeclared_parameters_follow_as_key_value(typed: EntryPoint, tmp_path: Path) -> None:
    command, values = typed.compute_command(
        {"zeta": "1", "name": "n", "data": ".", "batch-size": "32"}, tmp_path / "store"
    )
    assert command.endswith(
        f"--model {tmp_path / 'proj' / 'models' / 'out'} --zeta 1 --batch-size 32"
    )
    assert list(values) == ["alpha", "epochs", "name", "data", "model", "zeta", "batch-size"]
    assert extra_arguments({"a b": "c d", "x": ""}) == "'--a b' 'c d' --x ''"


# -- paths and URIs --------------------------------------------------------------------------------


def test_paths_must_exist(typed: EntryPoint, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as caught:
        typed.compute_command({"name": "n", "data": "missing.csv"}, tmp_path / "store")
    assert str(caught.value) == (
        f"Parameter 'data' (path) is 'missing.csv', but there is no file or folder at "
        f"{tmp_path / 'missing.csv'}."
    )
    folder = _write(
        tmp_path / "p2",
        "entry_points:\n  main:\n    parameters: {d: {type: path, default: data}}\n"
        "    command: run {d}\n",
    )
    with pytest.raises(InvalidParameter, match=r"'d' \(path\) \(its default\) is 'data'"):
        load_project(folder).get_entry_point("main").compute_command({}, tmp_path / "store")
    (folder / "data").mkdir()
    command, _ = load_project(folder).get_entry_point("main").compute_command({}, tmp_path / "s")
    assert command == f"run {folder / 'data'}"


def test_file_uris_and_absolute_paths_are_local_paths(typed: EntryPoint, tmp_path: Path) -> None:
    data = tmp_path / "my data.csv"
    data.write_text("x")
    for given in (data.as_uri(), str(data)):
        _, values = typed.compute_command({"name": "n", "data": given}, tmp_path / "store")
        assert values["data"] == str(data)
    assert not (tmp_path / "store").exists()


def test_uri_values(typed: EntryPoint, tmp_path: Path) -> None:
    for given, expected in [
        ("s3://bucket/models/out", "s3://bucket/models/out"),
        ("file:///srv/models", "file:///srv/models"),
        ("runs:/abc/model", "runs:/abc/model"),
        ("out/model", str(tmp_path / "out" / "model")),  # a plain path is made absolute
    ]:
        _, values = typed.compute_command(
            {"name": "n", "data": ".", "model": given}, tmp_path / "store"
        )
        assert values["model"] == expected


@pytest.fixture
def artifact_run(tracking_uri: str) -> str:  # noqa: F811  (the imported fixture, by name)
    with runlab.start_run() as run:
        runlab.log_text("a,b\n1,2\n", "data/train.csv")
        runlab.log_text("c", "data/more/test.csv")
    return run.info.run_id


PATHS = """\
entry_points:
  main:
    parameters:
      first: path
      second: {type: path, default: local.txt}
    command: "use {first} {second}"
"""


def test_path_uris_are_downloaded_under_the_storage_folder(
    artifact_run: str, tmp_path: Path
) -> None:
    entry = load_project(_write(tmp_path / "proj", PATHS)).get_entry_point("main")
    (tmp_path / "proj" / "local.txt").write_text("")
    store = tmp_path / "store"
    _, values = entry.compute_command(
        {"first": f"runs:/{artifact_run}/data/train.csv", "second": f"runs:/{artifact_run}/data"},
        store,
    )
    first, second = Path(values["first"]), Path(values["second"])
    assert first.read_text() == "a,b\n1,2\n" and first.name == "train.csv"
    assert (second / "more" / "test.csv").read_text() == "c"
    # Each parameter gets its own folder in the storage folder.
    assert first.parent.parent == store and second.parent.parent == store
    assert first.parent != second.parent


@pytest.mark.parametrize(
    ("second", "fragment"),
    [
        ("runs:/{run}/nothing-here.csv", "nothing-here.csv' (no logged model"),
        ("gs://bucket/data.csv", "gs"),
        ("runs:/../etc/passwd", "could not download"),
    ],
)
def test_a_failed_download_leaves_nothing_behind(
    artifact_run: str, tmp_path: Path, second: str, fragment: str
) -> None:
    entry = load_project(_write(tmp_path / "proj", PATHS)).get_entry_point("main")
    store = tmp_path / "store"
    with pytest.raises(InvalidParameter) as caught:
        entry.compute_command(
            {
                "first": f"runs:/{artifact_run}/data/train.csv",
                "second": second.format(run=artifact_run),
            },
            store,
        )
    message = str(caught.value)
    assert message.startswith("Parameter 'second' (path): could not download ")
    assert fragment in message
    # The first parameter's download, made before the second failed, is gone too.
    assert list(store.iterdir()) == []


# -- quoting: values reach the program as one literal argument each -------------------------------

NASTY = [
    "; rm -rf ~",
    "$(touch pwned)",
    "`touch pwned`",
    "' ; touch pwned ; '",
    '" ; touch pwned ; "',
    "a\nb; touch pwned",
    "&& touch pwned",
    "| touch pwned",
    "${HOME}",
    "*",
    "~",
    "--flag",
    "",
    "back\\slash",
    "tab\there",
    "{name}",
]

RECORD = "import json, sys\nwith open('argv.json', 'w') as f:\n    json.dump(sys.argv[1:], f)\n"


def _run_sandboxed(command: str, cwd: Path, home: Path) -> list[str]:
    """Run ``command`` with bash in ``cwd``, HOME in ``home``; the arguments the program got."""
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # no other command said anything
    return list(json.loads((cwd / "argv.json").read_text()))


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """A project folder with the recording program, and a HOME holding a canary file."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "record.py").write_text(RECORD)
    return project, home


def _after_run_checks(project: Path, home: Path) -> None:
    assert (home / "canary").read_text() == "still here"
    assert sorted(p.name for p in home.iterdir()) == ["canary"]
    assert sorted(p.name for p in project.iterdir()) == ["MLproject", "argv.json", "record.py"]


def test_hostile_values_reach_the_program_as_one_literal_argument_each(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    project, home = sandbox
    names = [f"v{i}" for i in range(len(NASTY))]
    python = shlex.quote(sys.executable)
    template = f"{python} record.py " + " ".join(f"--{n} {{{n}}}" for n in names)
    lines = ["entry_points:", "  main:", "    parameters:"]
    lines += [f"      {n}: string" for n in names]
    lines.append(f"    command: {json.dumps(template)}")
    _write(project, "\n".join(lines) + "\n")
    entry = load_project(project).get_entry_point("main")
    given = dict(zip(names, NASTY, strict=True))
    # Undeclared parameters are quoted too, name and value.
    given["x; touch pwned"] = "; rm -rf ~"
    command, values = entry.compute_command(given, tmp_path / "store")
    assert values == given
    argv = _run_sandboxed(command, project, home)
    expected = [word for n, v in zip(names, NASTY, strict=True) for word in (f"--{n}", v)]
    assert argv == [*expected, "--x; touch pwned", "; rm -rf ~"]
    _after_run_checks(project, home)


def test_undeclared_values_join_the_last_line_of_a_block_command(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    project, home = sandbox
    python = shlex.quote(sys.executable)
    _write(
        project,
        "entry_points:\n  main:\n    parameters: {msg: string}\n    command: |\n"
        f"      {python} record.py \\\n        --msg {{msg}}\n",
    )
    entry = load_project(project).get_entry_point("main")
    command, _ = entry.compute_command({"msg": "; rm -rf ~", "extra": "$(touch pwned)"}, tmp_path)
    assert _run_sandboxed(command, project, home) == [
        "--msg",
        "; rm -rf ~",
        "--extra",
        "$(touch pwned)",
    ]
    _after_run_checks(project, home)


def test_a_default_is_quoted_like_a_given_value(sandbox: tuple[Path, Path], tmp_path: Path) -> None:
    project, home = sandbox
    python = shlex.quote(sys.executable)
    _write(
        project,
        "entry_points:\n  main:\n    parameters:\n      msg: {default: '$(touch pwned); ~'}\n"
        f"    command: {json.dumps(python + ' record.py {msg}')}\n",
    )
    command, _ = load_project(project).get_entry_point("main").compute_command({}, tmp_path)
    assert _run_sandboxed(command, project, home) == ["$(touch pwned); ~"]
    _after_run_checks(project, home)


def test_a_parameter_cannot_smuggle_a_placeholder(tmp_path: Path) -> None:
    # Values are inserted once, after the template is parsed: "{other}" in a value stays text.
    _write(
        tmp_path,
        "entry_points:\n  main:\n    parameters: {a: string, b: string}\n    command: echo {a} {b}\n",
    )
    command, _ = (
        load_project(tmp_path)
        .get_entry_point("main")
        .compute_command({"a": "{b}", "b": "x"}, tmp_path)
    )
    assert command == "echo '{b}' x"
    assert isinstance(MLprojectError(tmp_path, 1, "f", "p"), InvalidParameter)
