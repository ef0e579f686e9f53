"""``runlab.sklearn``: scikit-learn models (MLflow's ``mlflow.sklearn``)."""

from runlab.models.flavors.sklearn import *  # noqa: F403
from runlab.models.flavors.sklearn import __all__ as __all__
