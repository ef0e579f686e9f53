"""``runlab.transformers``: Hugging Face Transformers models and autologging (MLflow's
``mlflow.transformers``)."""

from runlab.autologging.transformers import autolog
from runlab.models.flavors.transformers import *  # noqa: F403
from runlab.models.flavors.transformers import __all__ as _flavor_all

__all__ = [*_flavor_all, "autolog"]
