"""PyFuncModel: any saved model behind one ``predict``, with its signature enforced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runlab.models.model import Model
from runlab.models.schema_enforcement import enforce_params, enforce_schema

__all__ = ["PyFuncModel"]


class PyFuncModel:
    """A loaded model with the generic interface: ``predict(data, params=None)``.

    ``data`` may be a pandas DataFrame or Series, a numpy array, a list or a dict. When the
    model has a signature, the input is checked and converted against it first, and a mismatch
    raises :class:`runlab.models.SchemaEnforcementError` naming the column and the type it
    expects. ``params`` are checked against the signature's parameter schema; without one they
    are dropped, so a caller cannot pass arbitrary keyword arguments into the model.
    """

    def __init__(self, model_meta: Model, implementation: Any) -> None:
        self._meta = model_meta
        self._impl = implementation
        signature = model_meta.signature
        self._input_schema = signature.inputs if signature is not None else None
        self._param_schema = signature.params if signature is not None else None

    @property
    def metadata(self) -> Model:
        """The model's ``MLmodel`` contents."""
        return self._meta

    @property
    def loader_module(self) -> str | None:
        """The ``loader_module`` the model was saved with."""
        conf = self._meta.flavors.get("python_function", {})
        value = conf.get("loader_module")
        return value if isinstance(value, str) else None

    @property
    def model_config(self) -> dict[str, Any]:
        """The ``config`` entry of the python_function flavor (empty when none)."""
        conf = self._meta.flavors.get("python_function", {}).get("config")
        return dict(conf) if isinstance(conf, Mapping) else {}

    @property
    def input_schema(self) -> Any:
        """The signature's input schema, or None."""
        return self._input_schema

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature, then predict."""
        return self.predict_checked(*self.check_input(data, params))

    def check_input(
        self, data: Any, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any] | None]:
        """``(data, params)`` checked and converted against the signature, ready to predict.

        The first half of :meth:`predict`: a server checks each request on its own (so an error
        is reported to the request that caused it) and may then predict several at once.
        """
        if self._input_schema is not None:
            data = enforce_schema(data, self._input_schema)
        return data, enforce_params(params, self._param_schema) or None

    def predict_checked(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict for input that :meth:`check_input` returned (no second check)."""
        return self._impl.predict(data, params)

    @property
    def rows_are_independent(self) -> bool:
        """True when each output row depends only on its input row (scikit-learn, boosting).

        Such a model may be given several requests' rows in one call and its output split
        back; the flavor says so (``row_independent`` on its implementation). Custom models
        may compute across rows, so they never claim it.
        """
        return bool(getattr(self._impl, "row_independent", False))

    def get_raw_model(self) -> Any:
        """The flavor's own object behind this model (e.g. the scikit-learn estimator)."""
        raw = getattr(self._impl, "raw_model", None)
        return raw if raw is not None else self._impl

    def unwrap_python_model(self) -> Any:
        """The :class:`PythonModel` instance of a model saved with ``python_model=``."""
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise ValueError(
                f"This model was not saved with a python_model (loader {self.loader_module!r})."
            )
        return python_model

    def __repr__(self) -> str:
        run = f", run_id={self._meta.run_id!r}" if self._meta.run_id else ""
        return f"PyFuncModel(loader_module={self.loader_module!r}{run})"
