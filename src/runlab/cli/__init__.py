"""The ``runlab`` command line: click commands that drive :class:`runlab.tracking.Client`.

The entry point is :data:`runlab.cli.main.cli`. Commands never touch SQL; they call the same
client methods a Python user would, so the CLI behaves identically on every backend.
"""
