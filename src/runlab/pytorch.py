"""``runlab.pytorch``: PyTorch models and autologging (MLflow's ``mlflow.pytorch``)."""

from runlab.autologging.pytorch import autolog
from runlab.models.flavors.pytorch import *  # noqa: F403
from runlab.models.flavors.pytorch import __all__ as _flavor_names

__all__ = [*_flavor_names, "autolog"]
