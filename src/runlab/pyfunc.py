"""``runlab.pyfunc``: custom Python models and loading any model generically (MLflow's ``mlflow.pyfunc``)."""

from runlab.models.pyfunc import *  # noqa: F403
from runlab.models.pyfunc import __all__ as __all__
