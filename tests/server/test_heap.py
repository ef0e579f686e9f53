"""settle_heap: start-up objects are frozen, later garbage is still collected."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from runlab.server.heap import settle_heap

settle_heap()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert "numpy" in __import__("sys").modules

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a reference cycle made after start-up
del a, b
assert gc.collect() >= 2
print("ok")
"""


def test_settle_heap_in_a_fresh_process() -> None:
    # A separate interpreter: freezing is process-wide and would outlive this test.
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
