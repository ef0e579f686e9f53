"""Readable names for runs created without one (``bold-heron-417``)."""

from __future__ import annotations

import os
import random

_ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "crisp",
    "eager",
    "fair",
    "gentle",
    "glad",
    "golden",
    "grand",
    "keen",
    "kind",
    "lively",
    "lucky",
    "merry",
    "nimble",
    "noble",
    "polite",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "silent",
    "smart",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zesty",
)
_NOUNS = (
    "badger",
    "bear",
    "crane",
    "deer",
    "dolphin",
    "eagle",
    "falcon",
    "finch",
    "fox",
    "gecko",
    "hare",
    "hawk",
    "heron",
    "ibis",
    "koala",
    "lark",
    "lemur",
    "lynx",
    "mole",
    "moose",
    "newt",
    "otter",
    "owl",
    "panda",
    "puffin",
    "quail",
    "raven",
    "robin",
    "seal",
    "shrew",
    "sparrow",
    "stork",
    "swan",
    "tiger",
    "trout",
    "wolf",
    "wren",
    "yak",
    "zebra",
)


# Seeded from the OS once per process. Names need no secrecy, and SystemRandom's system call
# per draw cost a measurable share of creating a run.
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    # Forked children (sweep workers, data loaders) must not all draw the same names.
    os.register_at_fork(after_in_child=_rng.seed)


def generate_run_name() -> str:
    """A random ``adjective-noun-number`` name; uniqueness is not needed, readability is."""
    return f"{_rng.choice(_ADJECTIVES)}-{_rng.choice(_NOUNS)}-{_rng.randrange(1000)}"
