"""The MLproject format: loading, environments, entry points, and errors naming file, line, field.

Projects are real folders in ``tmp_path``; file entry points are run with bash to show the
commands they make work as written.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runlab.errors import InvalidParameter
from runlab.projects.spec import EntryPoint, EnvSpec, Project, load_project
from runlab.projects.spec_yaml import MLprojectError


def _project(folder: Path, mlproject: str | None, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if mlproject is not None:
        (folder / "MLproject").write_text(textwrap.dedent(mlproject), encoding="utf-8")
    for name, text in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


FULL = """\
    name: tutorial
    python_env: envs/python_env.yaml
    entry_points:
      main:
        parameters:
          alpha: {type: float, default: 0.5}
          epochs: {type: int, default: 10}
          data_file: path
          out: {type: uri, default: outputs}
          note: {default: hello}
          label: string
        command: "python train.py --alpha {alpha} --data {data_file}"
      validate:
        command: python validate.py
"""


def test_a_full_mlproject(tmp_path: Path) -> None:
    folder = _project(tmp_path / "proj", FULL, {"envs/python_env.yaml": "python: '3.11'\n"})
    project = load_project(folder)
    assert project.name == "tutorial"
    assert project.directory == folder
    assert project.env == EnvSpec("python_env", folder / "envs" / "python_env.yaml")
    assert project.mlproject_path == folder / "MLproject"
    assert project.mlproject_text == (folder / "MLproject").read_text()
    assert list(project.entry_points) == ["main", "validate"]
    main = project.get_entry_point("main")
    assert main.command == "python train.py --alpha {alpha} --data {data_file}"
    assert main.line == 4
    params = {n: (p.type, p.default, p.required, p.line) for n, p in main.parameters.items()}
    assert params == {
        "alpha": ("float", "0.5", False, 6),
        "epochs": ("int", "10", False, 7),
        "data_file": ("path", None, True, 8),
        "out": ("uri", "outputs", False, 9),
        "note": ("string", "hello", False, 10),  # a mapping without a type is a string
        "label": ("string", None, True, 11),
    }
    assert project.get_entry_point("validate").parameters == {}
    # Only the file's text is recorded for a project that has one.
    assert project.describe("main") == project.mlproject_text


def test_defaults_read_as_mlflow_reads_them(tmp_path: Path) -> None:
    folder = _project(
        tmp_path,
        """\
        entry_points:
          main:
            parameters:
              a: {type: float, default: 0.10}
              b: {type: string, default: true}
              c: {type: int, default: 7}
              d: {type: string, default: ""}
              e: {type: float, default: 1e-3}
              f: {type: string, default: null}
            command: echo
        """,
    )
    params = load_project(folder).entry_points["main"].parameters
    assert {n: p.default for n, p in params.items()} == {
        "a": "0.1",
        "b": "True",
        "c": "7",
        "d": "",
        "e": "1e-3",
        "f": None,  # null: no default, so required
    }


def test_name_defaults_to_the_folder_and_is_read_as_written(tmp_path: Path) -> None:
    assert load_project(_project(tmp_path / "nameless", "entry_points: {}\n")).name == "nameless"
    assert load_project(_project(tmp_path / "num", "name: 2024\n")).name == "2024"
    assert load_project(_project(tmp_path / "nomlp", None, {"a.py": ""})).name == "nomlp"


def test_conda_env_and_the_mlproject_in_any_letter_case(tmp_path: Path) -> None:
    folder = _project(tmp_path, None, {"conda.yaml": "name: x\n"})
    (folder / "mlproject").write_text("name: lower\nconda_env: conda.yaml\n")
    project = load_project(folder)
    assert project.name == "lower"
    assert project.env == EnvSpec("conda_env", folder / "conda.yaml")
    assert project.mlproject_path == folder / "mlproject"


def test_docker_env(tmp_path: Path) -> None:
    folder = _project(
        tmp_path,
        """\
        docker_env:
          image: registry.example/team/trainer:1.2
          volumes: ["/data:/data", "/cache:/root/.cache"]
          environment: [["EPOCHS", 08], "AWS_PROFILE", ["MODE", "fast"], "UNSET_ONE"]
        entry_points:
          main: {command: python train.py}
        """,
    )
    env = load_project(folder).env
    assert env.kind == "docker_env" and env.path is None
    assert env.image == "registry.example/team/trainer:1.2"
    assert env.volumes == ("/data:/data", "/cache:/root/.cache")
    # A pair's value is kept as written; a bare name is copied from the host.
    assert env.environment == (
        ("EPOCHS", "08"),
        ("AWS_PROFILE", None),
        ("MODE", "fast"),
        ("UNSET_ONE", None),
    )
    host = {"AWS_PROFILE": "dev", "MODE": "host-value"}
    assert env.docker_environment(host) == {"EPOCHS": "08", "AWS_PROFILE": "dev", "MODE": "fast"}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"python_env.yaml": "python: '3.11'\n", "conda.yaml": "name: x\n"}, "python_env"),
        ({"conda.yaml": "name: x\n"}, "conda_env"),
        ({}, "none"),
    ],
)
@pytest.mark.parametrize("with_mlproject", [True, False])
def test_environment_files_stand_in_when_none_is_named(
    tmp_path: Path, files: dict[str, str], expected: str, with_mlproject: bool
) -> None:
    folder = _project(tmp_path, "name: p\n" if with_mlproject else None)
    for name, text in files.items():
        (folder / name).write_text(text)
    env = load_project(folder).env
    assert env.kind == expected
    assert env.path == (None if expected == "none" else folder / files_name(expected))


def files_name(kind: str) -> str:
    return {"python_env": "python_env.yaml", "conda_env": "conda.yaml"}[kind]


def test_a_folder_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="No project folder at"):
        load_project(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidParameter, match="No project folder at"):
        load_project(tmp_path / "file")


# -- entry points that are files -------------------------------------------------------------------


def _run(command: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run as the environments run it: bash -c, with python first on PATH."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "python").symlink_to(sys.executable)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


ECHO_PY = "import json, sys\nprint(json.dumps(sys.argv))\n"
ECHO_SH = 'printf "%s\\n" "$0" "$@"\n'


@pytest.mark.parametrize("with_mlproject", [True, False])
def test_py_and_sh_files_are_entry_points(tmp_path: Path, with_mlproject: bool) -> None:
    folder = _project(
        tmp_path / "proj",
        "entry_points:\n  main: {command: echo}\n" if with_mlproject else None,
        {"train.py": ECHO_PY, "steps/prep.sh": ECHO_SH, "-odd.py": ECHO_PY},
    )
    project = load_project(folder)
    train = project.get_entry_point("train.py")
    assert (train.name, train.parameters, train.command) == ("train.py", {}, "python train.py")
    command, values = train.compute_command({"alpha": "0.5", "name": "a b"}, tmp_path / "store")
    assert command == "python train.py --alpha 0.5 --name 'a b'"
    assert values == {"alpha": "0.5", "name": "a b"}
    done = _run(command, folder, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["train.py", "--alpha", "0.5", "--name", "a b"]

    prep = project.get_entry_point("steps/prep.sh")
    command, _ = prep.compute_command({"k": "v"}, tmp_path / "store")
    assert command == "bash steps/prep.sh --k v"
    done = _run(command, folder, tmp_path)
    assert done.stdout.splitlines() == ["steps/prep.sh", "--k", "v"]

    # A file named like an option is still run as a file, not read as python's option.
    odd = project.get_entry_point("-odd.py")
    assert odd.command == "python ./-odd.py"
    done = _run(odd.compute_command({}, tmp_path / "store")[0], folder, tmp_path)
    assert json.loads(done.stdout) == ["./-odd.py"]


def test_unknown_entry_points_list_the_declared_ones(tmp_path: Path) -> None:
    folder = _project(tmp_path / "proj", FULL, {"envs/python_env.yaml": "", "notes.txt": ""})
    (tmp_path / "outside.py").write_text("")
    project = load_project(folder)
    for name in ("train", "missing.py", "notes.txt", "../outside.py", str(tmp_path / "outside.py")):
        with pytest.raises(InvalidParameter) as caught:
            project.get_entry_point(name)
        message = str(caught.value)
        assert f"Unknown entry point {name!r} in project 'tutorial'" in message
        assert "entry points are 'main', 'validate'" in message
        assert ".py or .sh file" in message
    bare = load_project(_project(tmp_path / "bare", None))
    with pytest.raises(InvalidParameter, match="the project has no MLproject file"):
        bare.get_entry_point("main")


def test_a_generated_description_for_a_folder_without_mlproject(tmp_path: Path) -> None:
    folder = _project(tmp_path / "plain", None, {"train.py": ECHO_PY, "python_env.yaml": ""})
    project = load_project(folder)
    described = project.describe("train.py")
    assert described.startswith("# Generated by runlab")
    # The description is itself an MLproject that runs the same command.
    again = _project(tmp_path / "again", described, {"train.py": ECHO_PY, "python_env.yaml": ""})
    reloaded = load_project(again)
    assert reloaded.name == "plain"
    assert reloaded.env.kind == "python_env"
    assert reloaded.entry_points["train.py"].command == "python train.py"


def test_entry_points_made_directly_check_their_template(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"placeholder \{x\} names no parameter"):
        EntryPoint("e", {}, "echo {x}", tmp_path)
    with pytest.raises(InvalidParameter, match="Entry point 'e'"):
        EntryPoint("e", {}, "echo {", tmp_path)
    assert isinstance(Project("p", tmp_path, EnvSpec(), {}).env, EnvSpec)


# -- malformed MLproject files ---------------------------------------------------------------------

BAD = [
    pytest.param("name: [unclosed\n", 2, "(YAML syntax)", "expected", id="yaml-syntax"),
    pytest.param("- a\n- b\n", 1, "(top level)", "expected a mapping, got a list", id="top-list"),
    pytest.param("name: p\nentry_point: {}\n", 2, "entry_point", "unknown field", id="top-key"),
    pytest.param("name: p\nname: q\n", 2, "name", "appears twice", id="duplicate"),
    pytest.param("name: {a: 1}\n", 1, "name", "expected the project's name", id="name-map"),
    pytest.param(
        "python_env: p.yaml\nconda_env: c.yaml\n", 2, "conda_env", "one environment", id="two-envs"
    ),
    pytest.param("python_env: nope.yaml\n", 1, "python_env", "no such file", id="env-missing"),
    pytest.param("conda_env: ../c.yaml\n", 1, "conda_env", "outside the project", id="env-out"),
    pytest.param("python_env: /etc/hosts\n", 1, "python_env", "relative", id="env-absolute"),
    pytest.param("python_env: 3\n", 1, "python_env", "expected the environment", id="env-num"),
    pytest.param(
        "docker_env: {volumes: []}\n", 1, "docker_env.image", "needs an image", id="no-image"
    ),
    pytest.param("docker_env: img\n", 1, "docker_env", "expected a mapping", id="docker-text"),
    pytest.param(
        "docker_env:\n  image: i\n  volumes: /a:/b\n",
        3,
        "docker_env.volumes",
        "expected a list",
        id="volumes-text",
    ),
    pytest.param(
        "docker_env:\n  image: i\n  volumes:\n    - /a:/b\n    - 5\n",
        5,
        "docker_env.volumes[1]",
        "expected a volume",
        id="volume-number",
    ),
    pytest.param(
        "docker_env:\n  image: i\n  environment:\n    - [A, b, c]\n",
        4,
        "docker_env.environment[0]",
        "this list has 3 items",
        id="env-triple",
    ),
    pytest.param(
        "docker_env:\n  image: i\n  environment: ['1BAD']\n",
        3,
        "docker_env.environment[0]",
        "is not a variable name",
        id="env-name",
    ),
    pytest.param(
        "docker_env:\n  image: i\n  network: host\n",
        3,
        "docker_env.network",
        "unknown field",
        id="docker-key",
    ),
    pytest.param("entry_points: [main]\n", 1, "entry_points", "expected a mapping", id="eps-list"),
    pytest.param(
        "entry_points:\n  main: python x.py\n",
        2,
        "entry_points.main",
        "expected a mapping",
        id="ep-text",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters: {}\n",
        2,
        "entry_points.main.command",
        "has no command",
        id="no-command",
    ),
    pytest.param(
        "entry_points:\n  main:\n    command: 42\n",
        3,
        "entry_points.main.command",
        "expected the command (text), got 42 (int)",
        id="command-number",
    ),
    pytest.param(
        "entry_points:\n  main:\n    command: '  '\n",
        3,
        "entry_points.main.command",
        "the command is empty",
        id="command-empty",
    ),
    pytest.param(
        "entry_points:\n  main:\n    commands: x\n",
        3,
        "entry_points.main.commands",
        "unknown field 'commands'",
        id="ep-key",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: flaot\n    command: x\n",
        4,
        "entry_points.main.parameters.a",
        "unknown type 'flaot'",
        id="type-unknown",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a:\n        type: int\n        defualt: 1\n"
        "    command: x\n",
        6,
        "entry_points.main.parameters.a.defualt",
        "unknown field",
        id="param-key",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a:\n    command: x\n",
        4,
        "entry_points.main.parameters.a",
        "expected a type",
        id="param-null",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: [int]\n    command: x\n",
        4,
        "entry_points.main.parameters.a",
        "expected a type",
        id="param-list",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a:\n        type: float\n"
        "        default: abc\n    command: x\n",
        6,
        "entry_points.main.parameters.a.default",
        "does not fit the type float",
        id="default-float",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: {type: int, default: 1.5}\n"
        "    command: x\n",
        4,
        "entry_points.main.parameters.a.default",
        "expected an int",
        id="default-int",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: {default: [1, 2]}\n    command: x\n",
        4,
        "entry_points.main.parameters.a.default",
        "expected a single value",
        id="default-list",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: {type: 5}\n    command: x\n",
        4,
        "entry_points.main.parameters.a.type",
        "expected one of",
        id="type-number",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters: {a: int}\n    command: |\n      python x.py \\\n"
        "        --a {a} \\\n        --b {b}\n",
        7,
        "entry_points.main.command",
        "the placeholder {b} names no parameter of entry point 'main' (its parameters: a)",
        id="placeholder-unknown",
    ),
    pytest.param(
        "entry_points:\n  main:\n    command: 'echo ${HOME}'\n",
        3,
        "entry_points.main.command",
        "write {{HOME}} for literal braces",
        id="placeholder-shell-var",
    ),
    pytest.param(
        "entry_points:\n  main:\n    command: 'echo {'\n",
        3,
        "entry_points.main.command",
        "Single '{'",
        id="brace-unclosed",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters: {a: float}\n    command: 'echo {a:.2f}'\n",
        4,
        "entry_points.main.command",
        "is not a plain {name}",
        id="format-spec",
    ),
    pytest.param(
        "entry_points:\n  main:\n    parameters: {a: float}\n    command: 'echo {a.real}'\n",
        4,
        "entry_points.main.command",
        "is not a plain {name}",
        id="attribute",
    ),
    pytest.param(
        "entry_points:\n  main:\n    command: 'echo {}'\n",
        3,
        "entry_points.main.command",
        "names no parameter",
        id="positional",
    ),
    pytest.param("", 1, "(document)", "the file is empty", id="empty"),
    pytest.param(
        "entry_points:\n  main:\n    parameters:\n      a: {default: !!python/object:os.system x}\n"
        "    command: x\n",
        4,
        "entry_points.main.parameters.a.default",
        "could not determine",
        id="python-tag",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "fragment"), BAD)
def test_a_malformed_mlproject_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, fragment: str
) -> None:
    folder = _project(tmp_path / "proj", text, {"p.yaml": "", "c.yaml": ""})
    (tmp_path / "c.yaml").write_text("")
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(MLprojectError) as caught:
        load_project(folder)
    error = caught.value
    assert isinstance(error, InvalidParameter)
    assert (error.path, error.line, error.field) == (str(folder / "MLproject"), line, field)
    assert str(error).startswith(f"{folder / 'MLproject'}, line {line}, {field}: ")
    assert fragment in str(error)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


def test_python_tags_are_never_executed(tmp_path: Path) -> None:
    # The name is read as the text written; a default is constructed by the safe loader only.
    folder = _project(tmp_path / "p", "name: !!python/name:os.system x\n")
    assert load_project(folder).name == "x"


def test_mlproject_files_that_are_not_text(tmp_path: Path) -> None:
    folder = _project(tmp_path / "bin", None)
    (folder / "MLproject").write_bytes(b"name: ok\nentry_points: \xff\xfe\n")
    with pytest.raises(MLprojectError, match=r"line 2, \(file\): is not UTF-8 text"):
        load_project(folder)
    (folder / "MLproject").write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(MLprojectError, match="is larger than"):
        load_project(folder)


def test_the_error_survives_pickling(tmp_path: Path) -> None:
    folder = _project(tmp_path, "name: p\nname: q\n")
    with pytest.raises(MLprojectError) as caught:
        load_project(folder)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.path, copy.line, copy.field, str(copy)) == (
        caught.value.path,
        2,
        "name",
        str(caught.value),
    )


def test_merge_keys_share_parameter_definitions(tmp_path: Path) -> None:
    folder = _project(
        tmp_path,
        """\
        entry_points:
          train:
            parameters: &common
              seed: {type: int, default: 1}
            command: python train.py --seed {seed}
          eval:
            parameters:
              <<: *common
              split: {type: string, default: test}
            command: python eval.py --seed {seed} --split {split}
        """,
    )
    params = load_project(folder).entry_points["eval"].parameters
    assert {n: (p.type, p.default) for n, p in params.items()} == {
        "seed": ("int", "1"),
        "split": ("string", "test"),
    }


# -- the package -----------------------------------------------------------------------------------


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_importing_the_package_stays_light() -> None:
    modules = _modules_after("import runlab.projects")
    assert not {"yaml", "runlab.tracking", "runlab.projects.spec"} & modules
    modules = _modules_after("import runlab.projects as p\np.load_project")
    assert "runlab.projects.spec" in modules and "runlab.tracking" not in modules


def test_the_package_exports() -> None:
    import runlab.projects

    assert runlab.projects.__all__ == ["SubmittedRun", "load_project", "run"]
    assert runlab.projects.load_project is load_project
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = runlab.projects.nope
