"""``runlab.keras``: Keras 3 models and autologging (MLflow's ``mlflow.keras``)."""

from runlab.autologging.keras import autolog
from runlab.models.flavors.keras import *  # noqa: F403
from runlab.models.flavors.keras import __all__ as _flavor_all

__all__ = [*_flavor_all, "autolog"]
