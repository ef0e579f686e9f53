"""What Spark batch scoring needs on this machine: pyspark, and Java to run Spark's JVM.

pyspark is an optional dependency (``pip install 'runlab[spark]'``) and is imported only when a
Spark function runs. Starting a session without Java fails deep inside pyspark with a message
about the Java gateway; :func:`require_java` says what is missing before that happens.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

from runlab.errors import InvalidState
from runlab.models.flavors.framework_import import MissingFramework

__all__ = [
    "MIN_JAVA_VERSION",
    "JavaNotFound",
    "import_pyspark",
    "java_executable",
    "require_java",
    "start_session",
]

#: The oldest Java that pyspark 4 runs on.
MIN_JAVA_VERSION = 17
INSTALL_HINT = "pip install 'runlab[spark]' (or pip install 'pyspark>=4,<5')"


class JavaNotFound(InvalidState):
    """Spark needs a Java runtime (17 or newer) and none was found, or it is too old."""


def import_pyspark() -> ModuleType:
    """The ``pyspark`` package, or :class:`MissingFramework` saying how to install it."""
    try:
        import pyspark
    except ImportError as err:
        raise MissingFramework(
            f"Spark batch scoring needs pyspark, which is not installed: {INSTALL_HINT}."
        ) from err
    return pyspark


def java_executable() -> Path | None:
    """The ``java`` Spark would start: ``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return candidate if candidate.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def require_java() -> Path:
    """The Java runtime Spark will use; :class:`JavaNotFound` when it is missing or too old."""
    java = java_executable()
    if java is None:
        where = (
            f"JAVA_HOME is {os.environ['JAVA_HOME']!r} but it has no bin/java"
            if os.environ.get("JAVA_HOME")
            else "no `java` on PATH and JAVA_HOME is not set"
        )
        raise JavaNotFound(
            f"Spark needs Java {MIN_JAVA_VERSION} or newer, and none was found ({where}). "
            f"Install a Java {MIN_JAVA_VERSION}+ runtime (e.g. apt-get install "
            f"openjdk-{MIN_JAVA_VERSION}-jre-headless) and put it on PATH or set JAVA_HOME."
        )
    version = _java_major_version(java)
    if version is not None and version < MIN_JAVA_VERSION:
        raise JavaNotFound(
            f"Spark needs Java {MIN_JAVA_VERSION} or newer; {java} is Java {version}. Point "
            f"JAVA_HOME at a Java {MIN_JAVA_VERSION}+ runtime."
        )
    return java


def _java_major_version(java: Path) -> int | None:
    """The major version ``java -version`` reports, or None when it cannot be told."""
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # e.g. 'openjdk version "17.0.15" 2025-04-15' or 'java version "1.8.0_391"'
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def start_session(master: str = "local[*]", app_name: str = "runlab") -> Any:
    """A SparkSession on ``master`` (an existing active one is reused), after the checks above.

    The console progress bar is off: a command that prints its own result does not want Spark's
    redrawn status line on stderr.
    """
    import_pyspark()
    require_java()
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
