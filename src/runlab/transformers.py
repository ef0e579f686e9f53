"""``runlab.transformers``: Hugging Face Transformers models (MLflow's ``mlflow.transformers``)."""

from runlab.models.flavors.transformers import *  # noqa: F403
from runlab.models.flavors.transformers import __all__ as __all__
