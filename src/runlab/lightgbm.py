"""``runlab.lightgbm``: LightGBM models and autologging (MLflow's ``mlflow.lightgbm``)."""

from runlab.autologging.lightgbm import autolog
from runlab.models.flavors.lightgbm import *  # noqa: F403
from runlab.models.flavors.lightgbm import __all__ as _flavor_all

__all__ = [*_flavor_all, "autolog"]
