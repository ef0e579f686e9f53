"""``runlab.xgboost``: XGBoost models (MLflow's ``mlflow.xgboost``)."""

from runlab.models.flavors.xgboost import *  # noqa: F403
from runlab.models.flavors.xgboost import __all__ as __all__
