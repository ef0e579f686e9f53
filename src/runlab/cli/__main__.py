"""``python -m runlab.cli`` runs the ``runlab`` command (useful when the script is not on PATH)."""

from runlab.cli.main import cli

cli(prog_name="runlab")
