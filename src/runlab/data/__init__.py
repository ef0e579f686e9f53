"""Datasets a run records as inputs, MLflow's ``mlflow.data``: ``from_pandas``, ``from_numpy``.

::

    import runlab as mlflow

    dataset = mlflow.data.from_pandas(frame, source="s3://bucket/train.csv", targets="label")
    with mlflow.start_run():
        mlflow.log_input(dataset, context="training")

A dataset carries a ``name``, a ``digest`` (8 hexadecimal characters that change with the
content), its ``source``, a ``schema`` and a ``profile``; :func:`runlab.log_input` records them
with the run, where ``get_run(run_id).inputs.dataset_inputs`` reads them back. Importing this
package loads neither pandas nor numpy.
"""

from runlab.data import sources
from runlab.data.dataset import Dataset, dataset_input, get_source
from runlab.data.numpy_dataset import NumpyDataset, from_numpy
from runlab.data.pandas_dataset import PandasDataset, from_pandas
from runlab.data.schema import TensorDatasetSchema
from runlab.data.sources import DatasetSource

__all__ = [
    "Dataset",
    "DatasetSource",
    "NumpyDataset",
    "PandasDataset",
    "TensorDatasetSchema",
    "dataset_input",
    "from_numpy",
    "from_pandas",
    "get_source",
    "sources",
]
