"""Content digests of datasets: 8 hexadecimal characters that change when the data changes.

A digest covers every value (not a sample), the shape, the column names and the dtypes, so two
datasets share a digest only when they hold the same data. It is the first 8 characters of a
SHA-256, the length MLflow's digests have, and it is stable across processes and machines
(pandas' and numpy's hashing of values are deterministic; nothing depends on ``hash()``).

runlab's digests are not MLflow's: MLflow hashes only the first 10,000 rows and leaves out
columns that are neither numbers nor strings, so different data can share its digest. A digest
passed to ``from_pandas``/``from_numpy`` is used as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["DIGEST_LENGTH", "numpy_digest", "pandas_digest"]

#: How many hexadecimal characters a digest has.
DIGEST_LENGTH = 8

# A version in the hashed prefix: changing how a digest is computed changes every digest, never
# silently makes new data match old digests.
_PANDAS_PREFIX = b"runlab dataset digest: pandas v1\0"
_NUMPY_PREFIX = b"runlab dataset digest: numpy v1\0"


def _text(hasher: Any, text: str) -> None:
    data = text.encode("utf-8")
    # Length-prefixed, so that no two sequences of texts hash alike ("ab","c" vs "a","bc").
    hasher.update(len(data).to_bytes(8, "little"))
    hasher.update(data)


def _hashed_values(pd: Any, values: Any) -> bytes:
    """pandas' 64-bit hash of each value of a Series or Index, as bytes."""
    try:
        hashes = pd.util.hash_pandas_object(values, index=False)
    except TypeError:
        # Unhashable cells (lists, dicts): hash their repr, which is deterministic for the
        # plain Python values such cells hold.
        hashes = pd.util.hash_pandas_object(values.map(repr), index=False)
    return bytes(hashes.to_numpy().tobytes())


def pandas_digest(frame: Any) -> str:
    """The digest of a pandas DataFrame: every cell, the index, column names and dtypes."""
    import pandas as pd

    hasher = hashlib.sha256(_PANDAS_PREFIX)
    _text(hasher, repr(tuple(frame.shape)))
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        _text(hasher, repr(name))
        _text(hasher, str(dtype))
    hasher.update(_hashed_values(pd, frame.index))
    for position in range(frame.shape[1]):
        hasher.update(_hashed_values(pd, frame.iloc[:, position]))
    return hasher.hexdigest()[:DIGEST_LENGTH]


def _array(hasher: Any, label: str, array: Any) -> None:
    import numpy as np

    _text(hasher, label)
    _text(hasher, array.dtype.str)
    _text(hasher, repr(tuple(array.shape)))
    if array.dtype.hasobject:
        for value in array.ravel():
            _text(hasher, repr(value))
    else:
        # Raw bytes as a flat uint8 view (no copy unless the array is not contiguous); works for
        # every fixed-size dtype, datetime64 included, which has no buffer interface of its own.
        hasher.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)


def _arrays(hasher: Any, role: str, data: Any) -> None:
    if isinstance(data, Mapping):
        for key in sorted(data):
            _array(hasher, f"{role}[{key}]", data[key])
    else:
        _array(hasher, role, data)


def numpy_digest(features: Any, targets: Any = None) -> str:
    """The digest of numpy features (an array or a dict of arrays) and optional targets."""
    hasher = hashlib.sha256(_NUMPY_PREFIX)
    _arrays(hasher, "features", features)
    if targets is not None:
        _arrays(hasher, "targets", targets)
    return hasher.hexdigest()[:DIGEST_LENGTH]
