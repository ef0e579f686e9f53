"""``runlab.sklearn``: scikit-learn models and autologging (MLflow's ``mlflow.sklearn``)."""

from runlab.autologging.sklearn import autolog
from runlab.models.flavors.sklearn import *  # noqa: F403
from runlab.models.flavors.sklearn import __all__ as _flavor_all

__all__ = [*_flavor_all, "autolog"]
