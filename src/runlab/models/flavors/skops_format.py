"""Whole estimator objects in a file: skops (the safe format) and, when asked for, a pickle.

Frameworks whose scikit-learn-style estimators have no native format of their own are saved as
objects. skops writes the object's state with the type of every part; loading builds only the
types it is told to trust and refuses the rest. A pickle, by contrast, runs whatever its author
put in it — it is read only when the model's ``MLmodel`` says that is what the file is, and only
once the trust decision (:mod:`runlab.models.trust`) allows it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runlab.errors import InvalidParameter
from runlab.models.flavors.framework_import import import_framework
from runlab.models.model_paths import add_code_path
from runlab.models.trust import ModelTrust

__all__ = ["PICKLE_FORMATS", "dump_pickle", "dump_skops", "load_pickle", "load_skops"]

#: The pickle spellings MLflow's flavors write (``cloudpickle`` also pickles functions by value).
PICKLE_FORMATS = ("cloudpickle", "pickle")


def _skops_io() -> Any:
    # runlab[sklearn] is the extra that brings skops.
    return import_framework("skops.io", "sklearn", "skops")


def dump_skops(obj: Any, path: Path, extra_trusted: Sequence[str] | None) -> list[str]:
    """Write ``obj`` with skops; the types it needs trusted, to record in ``MLmodel``.

    The list holds what skops does not trust by default plus ``extra_trusted``: the saver made
    the object and vouches for them, and MLflow's loader trusts exactly this list.
    """
    skops_io = _skops_io()
    skops_io.dump(obj, path)
    return sorted(set(skops_io.get_untrusted_types(file=path)) | set(extra_trusted or ()))


def load_skops(
    path: Path,
    recorded: Any,
    extra_trusted: Sequence[str] | None,
    vouched: Callable[[str], bool],
) -> Any:
    """Load a skops file, trusting the ``recorded`` types ``vouched`` accepts and ``extra_trusted``.

    A type the file needs beyond those is refused with a message naming it, instead of loaded.
    """
    skops_io = _skops_io()
    listed = [str(t) for t in recorded or ()]
    trusted = {t for t in listed if vouched(t)} | set(extra_trusted or ())
    refused = sorted(set(skops_io.get_untrusted_types(file=path)) - trusted)
    if refused:
        raise InvalidParameter(
            f"The model at {path} needs types that are not trusted: {', '.join(refused)}. If you "
            "trust the model's source, pass them as load_model(..., skops_trusted_types=[...])."
        )
    return skops_io.load(path, trusted=sorted(trusted) or None)


def dump_pickle(obj: Any, path: Path, fmt: str) -> None:
    """Write ``obj`` as a pickle, with cloudpickle when ``fmt`` is ``"cloudpickle"``."""
    with open(path, "wb") as out:
        if fmt == "cloudpickle":
            cloudpickle = import_framework("cloudpickle", "models")
            cloudpickle.dump(obj, out)
        else:
            pickle.dump(obj, out, protocol=pickle.DEFAULT_PROTOCOL)


def load_pickle(
    path: Path,
    model_format: str,
    trust: ModelTrust,
    model_dir: Path,
    conf: Mapping[str, Any],
) -> Any:
    """Unpickle ``path`` (in ``model_format``) if ``trust`` allows running its author's code.

    Only then is the model's ``code`` folder (named in ``conf``, inside ``model_dir``) put on
    ``sys.path``, where the pickle may import the author's modules from.
    """
    trust.require(model_format, path)
    add_code_path(model_dir, conf)
    with open(path, "rb") as source:
        return pickle.load(source)
