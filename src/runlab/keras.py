"""``runlab.keras``: Keras 3 models (MLflow's ``mlflow.keras``)."""

from runlab.models.flavors.keras import *  # noqa: F403
from runlab.models.flavors.keras import __all__ as __all__
