"""``runlab.lightgbm``: LightGBM models (MLflow's ``mlflow.lightgbm``)."""

from runlab.models.flavors.lightgbm import *  # noqa: F403
from runlab.models.flavors.lightgbm import __all__ as __all__
