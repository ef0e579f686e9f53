"""The tails a server process keeps between metric batches: bounded, all-or-nothing reads."""

from __future__ import annotations

import threading

from runlab.store.sql.tail_cache import TailCache


def test_a_run_is_found_only_with_every_key_asked_for() -> None:
    cache: TailCache[int] = TailCache()
    cache.put("run", {"a": 1, "b": 2})
    assert cache.get("run", ["a", "b"]) == {"a": 1, "b": 2}
    assert cache.get("run", ["a", "c"]) is None
    assert cache.get("other", ["a"]) is None
    cache.put("run", {"c": 3})  # added to what the run already has
    assert cache.get("run", ["c", "a"]) == {"c": 3, "a": 1}
    cache.drop("run")
    assert cache.get("run", ["a"]) is None and len(cache) == 0


def test_the_least_recently_used_runs_go_first_past_the_bound() -> None:
    cache: TailCache[int] = TailCache(max_keys=4)
    cache.put("old", {"a": 1, "b": 2})
    cache.put("used", {"a": 1})
    cache.get("old", ["a"])  # now the most recently used
    cache.put("new", {"a": 1, "b": 2})
    assert cache.get("used", ["a"]) is None  # evicted: 2 + 1 + 2 keys is over the bound
    assert cache.get("old", ["a", "b"]) is not None and cache.get("new", ["b"]) is not None
    assert len(cache) == 4
    cache.put("huge", {str(i): i for i in range(10)})  # one run alone over the bound is kept
    assert len(cache) == 10 and cache.get("huge", ["9"]) == {"9": 9}


def test_threads_share_it() -> None:
    cache: TailCache[int] = TailCache(max_keys=50)

    def work(n: int) -> None:
        for i in range(500):
            cache.put(f"run-{n}-{i % 20}", {"k": i})
            cache.get(f"run-{n}-{(i * 7) % 20}", ["k"])
            if i % 13 == 0:
                cache.drop(f"run-{n}-{i % 20}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 50
