"""Generated run names: readable, varied, and different in forked children."""

from __future__ import annotations

import os
import re

import pytest

from runlab.store.sql.run_names import generate_run_name


def test_names_are_readable_and_varied() -> None:
    names = {generate_run_name() for _ in range(200)}
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", name) for name in names)
    assert len(names) > 150


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_children_draw_different_names() -> None:
    names = []
    for _ in range(4):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report ten names and leave at once
            os.write(write_end, ",".join(generate_run_name() for _ in range(10)).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            names.append(pipe.read())
        os.waitpid(pid, 0)
    assert len(set(names)) == 4
