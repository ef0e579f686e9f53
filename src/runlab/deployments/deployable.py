"""The model a target deploys: fetched through runlab's one resolver, its flavor checked.

Every target starts a deployment the same way: resolve the URI the user gave
(``models:/churn/Production``, ``models:/churn@champion``, ``runs:/<id>/model``, a path or an
artifact URI) to the model's files, read its ``MLmodel`` and decide which flavor to serve. This
module does exactly that on top of :func:`runlab.models.model_location.fetch_model` (the same
resolution ``load_model`` and ``runlab models serve`` use), so no target resolves URIs itself::

    from runlab.deployments.deployable import deployable_model

    with deployable_model(model_uri, flavor) as model:
        pack(model.path)            # the local folder holding MLmodel
        record(model.location)      # what the URI resolved to (s3://…, file:…)

Nothing is loaded: deploying a model does not run its code here. The trust decision
(:mod:`runlab.models.trust`) applies where the model is loaded, on the target's server;
:meth:`DeployableModel.trust` gives it for targets that load the model on this machine.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runlab.errors import InvalidParameter

if TYPE_CHECKING:
    from runlab.models.model import Model
    from runlab.models.trust import ModelTrust

__all__ = [
    "DEFAULT_FLAVOR",
    "DeployableModel",
    "choose_flavor",
    "deployable_model",
    "fetch_deployable_model",
]

#: The flavor a target serves when the user names none (every runlab-served model has it).
DEFAULT_FLAVOR = "python_function"


@dataclass(frozen=True)
class DeployableModel:
    """A model ready to deploy: the names it was found by, its files, ``MLmodel`` and flavor.

    ``uri`` is what the user gave, ``location`` what it resolved to (the same for a path), and
    ``path`` the local folder that holds ``MLmodel``.
    """

    uri: str
    location: str
    path: Path
    mlmodel: Model
    flavor: str

    @property
    def source(self) -> str:
        """A URI of these same files that reads the same from anywhere, later.

        The absolute path for a model on this disk, else the resolved location: for
        ``models:/name/Production`` the files of the version the stage named at deployment, so
        a deployment keeps its model when the stage moves on.
        """
        from runlab import uris

        if uris.is_local_path_uri(self.location):
            return str(self.path.resolve())
        return self.location

    def trust(self, trusted: bool = False) -> ModelTrust:
        """The trust decision for loading this model here (see :mod:`runlab.models.trust`)."""
        from runlab.models.trust import ModelTrust

        return ModelTrust.of(self.uri, self.location, trusted=trusted)


def choose_flavor(
    mlmodel: Model,
    flavor: str | None,
    supported: Sequence[str] | None = (DEFAULT_FLAVOR,),
    model_uri: str = "the model",
) -> str:
    """The flavor to deploy: ``flavor`` if given, else :data:`DEFAULT_FLAVOR`.

    It must be one the model was saved with and, unless ``supported`` is None, one the target
    can serve; otherwise :class:`~runlab.errors.InvalidParameter` names what there is.
    """
    chosen = flavor or DEFAULT_FLAVOR
    if supported is not None and chosen not in supported:
        raise InvalidParameter(
            f"This target cannot deploy the flavor {chosen!r}; it deploys {', '.join(supported)}."
        )
    saved = sorted(mlmodel.flavors)
    if chosen not in mlmodel.flavors:
        raise InvalidParameter(
            f"{model_uri} has no {chosen!r} flavor (its flavors: {', '.join(saved) or 'none'})."
        )
    return chosen


def fetch_deployable_model(
    model_uri: str,
    dst_path: str | None = None,
    flavor: str | None = None,
    supported_flavors: Sequence[str] | None = (DEFAULT_FLAVOR,),
) -> DeployableModel:
    """Resolve and fetch ``model_uri`` (into ``dst_path`` when it is remote) and check it.

    Raises :class:`~runlab.errors.InvalidParameter` when the URI is malformed, the folder holds
    no ``MLmodel`` or the flavor does not fit (see :func:`choose_flavor`), and
    :class:`~runlab.errors.NotFound` when nothing is there.
    """
    from runlab.models.model import Model
    from runlab.models.model_location import fetch_model

    fetched = fetch_model(model_uri, dst_path)
    if not (fetched.path / "MLmodel").is_file():
        raise InvalidParameter(f"{model_uri!r} is not a model: {fetched.path} has no MLmodel file.")
    mlmodel = Model.load(fetched.path)
    chosen = choose_flavor(mlmodel, flavor, supported_flavors, repr(model_uri))
    return DeployableModel(fetched.uri, fetched.location, fetched.path, mlmodel, chosen)


@contextlib.contextmanager
def deployable_model(
    model_uri: str,
    flavor: str | None = None,
    supported_flavors: Sequence[str] | None = (DEFAULT_FLAVOR,),
) -> Iterator[DeployableModel]:
    """:func:`fetch_deployable_model` into a temporary folder removed when the block ends.

    A local model is used where it is (never removed); a remote one is downloaded for the block.
    """
    with tempfile.TemporaryDirectory(prefix="runlab-deploy-") as scratch:
        yield fetch_deployable_model(model_uri, scratch, flavor, supported_flavors)
