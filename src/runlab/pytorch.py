"""``runlab.pytorch``: PyTorch models (MLflow's ``mlflow.pytorch``)."""

from runlab.models.flavors.pytorch import *  # noqa: F403
from runlab.models.flavors.pytorch import __all__ as __all__
