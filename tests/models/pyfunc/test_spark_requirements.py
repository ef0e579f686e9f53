"""What spark_udf needs on the machine: pyspark (else an install hint) and Java 17+ (else a clear
error before Spark's launcher fails). No JVM starts here."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runlab.models.pyfunc.spark_requirements import JavaNotFound, require_java

# Makes `import pyspark` fail in the child, as on a machine without it.
BLOCK_PYSPARK = textwrap.dedent(
    """
    import sys

    class _NoPyspark:
        def find_spec(self, name, path=None, target=None):
            if name == "pyspark" or name.startswith("pyspark."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoPyspark())
    """
)


def _without_pyspark(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCK_PYSPARK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_spark_udf_without_pyspark_says_what_to_install(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    code = textwrap.dedent(
        f"""
        import runlab.pyfunc
        from runlab.models.flavors.framework_import import MissingFramework
        try:
            runlab.pyfunc.spark_udf(None, {str(model)!r})
        except MissingFramework as err:
            print("REFUSED:", err)
        """
    )
    proc = _without_pyspark(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert "REFUSED: Spark batch scoring needs pyspark" in proc.stdout
    assert "pip install 'runlab[spark]'" in proc.stdout


def test_without_java_spark_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFound, match=r"Spark needs Java 17 or newer.*no `java` on PATH"):
        require_java()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(JavaNotFound, match=r"JAVA_HOME is .*jdk' but it has no bin/java"):
        require_java()


def test_an_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = tmp_path / "jdk8" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_391\"' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk8"))
    with pytest.raises(JavaNotFound, match="is Java 8"):
        require_java()
