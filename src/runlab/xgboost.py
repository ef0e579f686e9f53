"""``runlab.xgboost``: XGBoost models and autologging (MLflow's ``mlflow.xgboost``)."""

from runlab.autologging.xgboost import autolog
from runlab.models.flavors.xgboost import *  # noqa: F403
from runlab.models.flavors.xgboost import __all__ as _flavor_all

__all__ = [*_flavor_all, "autolog"]
