"""Fit the serving benchmark's model and save it once as an MLflow-format model folder.

Usage (serving_run.py does this, with the interpreter of the tool that saves)::

    python serving_model.py runlab|mlflow OUT_DIR

A RandomForestClassifier(n_estimators=50, random_state=0) fitted on scikit-learn's bundled iris
(no download), saved with ``mlflow.sklearn.save_model`` or ``runlab.sklearn.save_model`` (skops,
both savers' default) with a signature inferred from the iris frame, into ``OUT_DIR/model``. Both
servers load that very folder. ``OUT_DIR/bodies.json`` gets the request bodies (1 row and 100 rows
of iris features as ``dataframe_split``) and the predictions the fitted model makes for them, so
the client needs no scikit-learn and can check every answer. The last stdout line
(``BENCH_RESULT {...}``) says what was saved.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "
N_ESTIMATORS = 50
#: Rows per request -> how many iris rows the body carries (the first N of the shuffled set).
ROW_COUNTS = (1, 100)


def main(tool: str, out_dir: Path) -> dict[str, object]:
    import numpy as np
    import sklearn
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    api = importlib.import_module(tool)
    flavor = importlib.import_module(f"{tool}.sklearn")
    models = importlib.import_module(f"{tool}.models")

    frame = load_iris(as_frame=True).frame
    features = frame.drop(columns=["target"])
    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0)
    model.fit(features, frame["target"])
    # MLflow 3.17's skops format refuses the tree types unless the saver names them.
    trusted = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    signature = models.infer_signature(features, model.predict(features))
    model_dir = out_dir / "model"
    flavor.save_model(model, str(model_dir), signature=signature, skops_trusted_types=trusted)

    shuffled = features.sample(frac=1.0, random_state=0)
    bodies = {}
    for rows in ROW_COUNTS:
        # Repeat the 150 iris rows if a size ever asks for more.
        part = shuffled.iloc[np.arange(rows) % len(shuffled)]
        bodies[str(rows)] = {
            "body": {
                "dataframe_split": {
                    "columns": list(part.columns),
                    "data": part.to_numpy().tolist(),
                }
            },
            # What the served model must answer: the saved model's own predictions.
            "expected": model.predict(part).tolist(),
        }
    (out_dir / "bodies.json").write_text(json.dumps(bodies))
    return {
        "model_dir": str(model_dir),
        "saved_with": f"{tool} {api.__version__}",
        "sklearn": sklearn.__version__,
        "format": "skops",
        "trusted_types": trusted,
        "rows": list(ROW_COUNTS),
    }


if __name__ == "__main__":
    result = main(sys.argv[1], Path(sys.argv[2]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
