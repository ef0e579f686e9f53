"""Transformers models move both ways between runlab and the real MLflow (3.17.2).

A model runlab saves loads with ``mlflow.transformers.load_model`` and ``mlflow.pyfunc``, and one
MLflow saves loads with runlab's; both write the same ``transformers`` flavor entries and files,
and both pyfunc wrappers predict the same for each task. Through a ``runlab server`` process,
a model MLflow's client logs and registers loads with runlab's client, and the other way round.
The tiny models are built from configs
with a ``BertTokenizer`` over a vocabulary file: nothing is downloaded.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

# Before transformers (and huggingface_hub) are imported: they read this once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"

import runlab
from support.servers import ProxiedRunlabServer

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
mlflow_transformers = pytest.importorskip("mlflow.transformers")
mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc")

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_VOCAB = [*_SPECIAL, "good", "bad", "movie", "plot", "great", "awful", "the", "was", "acting"]
_TEXTS = ["good movie", "the plot was awful", "great acting"]
# MLflow infers pip requirements by importing every package the model might need (torchvision
# among them, which is not installed here); naming them skips that.
_REQUIREMENTS = ["transformers", "torch"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    vocab_file = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab_file.write_text("\n".join(_VOCAB) + "\n")
    return transformers.BertTokenizer(str(vocab_file))


def _distilbert(model_class: Any, seed: int, labels: tuple[str, ...] = ("NEG", "POS")) -> Any:
    torch.manual_seed(seed)
    config = transformers.DistilBertConfig(
        vocab_size=len(_VOCAB),
        dim=16,
        n_layers=1,
        n_heads=2,
        hidden_dim=32,
        max_position_embeddings=32,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return model_class(config).eval()


@pytest.fixture(scope="module")
def classifier(tokenizer: Any) -> Any:
    model = _distilbert(transformers.DistilBertForSequenceClassification, 0)
    return transformers.pipeline("text-classification", model=model, tokenizer=tokenizer)


def _flavor(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())
    return data["flavors"]


def _payload_files(path: Path) -> set[str]:
    return {
        str(f.relative_to(path))
        for folder in ("model", "components")
        for f in (path / folder).rglob("*")
        if f.is_file()
    }


def test_runlab_and_mlflow_write_the_same_flavor_and_files(classifier: Any, tmp_path: Path) -> None:
    runlab.transformers.save_model(classifier, tmp_path / "runlab")
    mlflow_transformers.save_model(
        classifier, str(tmp_path / "mlflow"), pip_requirements=_REQUIREMENTS
    )
    ours, theirs = _flavor(tmp_path / "runlab"), _flavor(tmp_path / "mlflow")
    assert ours["transformers"] == theirs["transformers"]
    assert ours["python_function"]["loader_module"] == theirs["python_function"]["loader_module"]
    assert _payload_files(tmp_path / "runlab") == _payload_files(tmp_path / "mlflow")


def test_a_runlab_model_loads_in_mlflow(classifier: Any, tmp_path: Path) -> None:
    runlab.transformers.save_model(classifier, tmp_path / "m", input_example=_TEXTS[:2])
    pipeline = mlflow_transformers.load_model(str(tmp_path / "m"))
    assert isinstance(pipeline, transformers.TextClassificationPipeline)
    assert pipeline(_TEXTS) == classifier(_TEXTS)
    theirs = mlflow_pyfunc.load_model(str(tmp_path / "m"))
    ours = runlab.pyfunc.load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(theirs.predict(_TEXTS), ours.predict(_TEXTS))
    assert theirs.metadata.signature.to_dict() == ours.metadata.signature.to_dict()


@pytest.mark.parametrize("form", ["pipeline", "parts"])
def test_an_mlflow_model_loads_in_runlab(classifier: Any, tmp_path: Path, form: str) -> None:
    given = (
        classifier
        if form == "pipeline"
        else {"model": classifier.model, "tokenizer": classifier.tokenizer}
    )
    mlflow_transformers.save_model(
        given,
        str(tmp_path / "m"),
        task="text-classification",
        input_example=_TEXTS[:2],
        pip_requirements=_REQUIREMENTS,
    )
    pipeline = runlab.transformers.load_model(tmp_path / "m")
    assert isinstance(pipeline, transformers.TextClassificationPipeline)
    assert pipeline(_TEXTS) == classifier(_TEXTS)
    parts = runlab.transformers.load_model(tmp_path / "m", return_type="components")
    assert isinstance(parts["tokenizer"], transformers.BertTokenizer)
    ours = runlab.pyfunc.load_model(tmp_path / "m")
    theirs = mlflow_pyfunc.load_model(str(tmp_path / "m"))
    frame = pd.DataFrame({"text": _TEXTS})
    pd.testing.assert_frame_equal(ours.predict(frame), theirs.predict(frame))


def _fill_mask(tokenizer: Any) -> Any:
    model = _distilbert(transformers.DistilBertForMaskedLM, 1)
    return transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer)


def _feature_extraction(tokenizer: Any) -> Any:
    model = _distilbert(transformers.DistilBertModel, 2)
    return transformers.pipeline("feature-extraction", model=model, tokenizer=tokenizer)


def _token_classification(tokenizer: Any) -> Any:
    model = _distilbert(transformers.DistilBertForTokenClassification, 3)
    return transformers.pipeline("token-classification", model=model, tokenizer=tokenizer)


def _text_generation(tokenizer: Any) -> Any:
    torch.manual_seed(4)
    config = transformers.GPT2Config(
        vocab_size=len(_VOCAB), n_embd=16, n_layer=1, n_head=2, n_positions=32, bos_token_id=2
    )
    config.eos_token_id, config.pad_token_id = 3, 0
    model = transformers.GPT2LMHeadModel(config).eval()
    return transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)


def _zero_shot(tokenizer: Any) -> Any:
    labels = ("contradiction", "neutral", "entailment")
    model = _distilbert(transformers.DistilBertForSequenceClassification, 5, labels)
    return transformers.pipeline("zero-shot-classification", model=model, tokenizer=tokenizer)


_ZERO_SHOT_FRAME = {
    "sequences": ["good movie", "bad plot"],
    "candidate_labels": ['["good", "bad"]'] * 2,
    "hypothesis_template": ["This is {}."] * 2,
}
_GREEDY = {"max_new_tokens": 3, "do_sample": False}


@pytest.mark.parametrize(
    ("build", "inputs", "model_config"),
    [
        (_fill_mask, ["good [MASK]", "the [MASK] was great"], None),
        (_fill_mask, "[MASK] movie", None),
        (_feature_extraction, ["good movie", "bad plot"], None),
        (_feature_extraction, "great acting", None),
        (_token_classification, ["good movie", "the plot was awful"], None),
        (_text_generation, ["good movie", "the plot"], _GREEDY),
        (_text_generation, "great", _GREEDY),
        (_zero_shot, "frame", None),
    ],
)
def test_both_pyfunc_wrappers_predict_alike(
    tokenizer: Any, tmp_path: Path, build: Any, inputs: Any, model_config: Any
) -> None:
    runlab.transformers.save_model(build(tokenizer), tmp_path / "m", model_config=model_config)
    if inputs == "frame":
        inputs = pd.DataFrame(_ZERO_SHOT_FRAME)
    ours = runlab.pyfunc.load_model(tmp_path / "m").predict(inputs)
    theirs = mlflow_pyfunc.load_model(str(tmp_path / "m")).predict(inputs)
    if isinstance(theirs, pd.DataFrame):
        pd.testing.assert_frame_equal(ours, theirs)
    elif isinstance(theirs, np.ndarray):
        assert np.allclose(ours, theirs)
    else:
        assert ours == theirs


@pytest.fixture
def server_url(
    runlab_server: ProxiedRunlabServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """MLflow's client and runlab's both pointed at this module's runlab server process."""
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    mlflow.set_tracking_uri(runlab_server.url)
    runlab.set_tracking_uri(runlab_server.url)
    try:
        yield runlab_server.url
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets it
        runlab.set_tracking_uri(None)


@pytest.mark.slow  # starts a runlab server process
def test_mlflow_logs_through_a_runlab_server_and_runlab_loads(
    classifier: Any, server_url: str
) -> None:
    import mlflow

    experiment_id = mlflow.create_experiment(f"tiny-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow_transformers.log_model(
            classifier, name="clf", input_example=_TEXTS[:2], pip_requirements=_REQUIREMENTS
        )
    # MLflow 3 keeps the files in the logged model's location; runlab reaches them by the
    # model's id, by the run, and by that location itself.
    location = mlflow.MlflowClient().get_logged_model(info.model_id).artifact_location
    assert location.startswith("mlflow-artifacts:/") and info.run_id == run.info.run_id
    for uri in (f"models:/{info.model_id}", f"runs:/{run.info.run_id}/clf", location):
        assert runlab.transformers.load_model(uri)(_TEXTS) == classifier(_TEXTS)
    predicted = runlab.pyfunc.load_model(f"models:/{info.model_id}").predict(_TEXTS)
    pd.testing.assert_frame_equal(predicted, pd.DataFrame(classifier(_TEXTS)))


@pytest.mark.slow  # starts a runlab server process
def test_runlab_logs_through_a_runlab_server_and_mlflow_loads(
    classifier: Any, server_url: str
) -> None:
    experiment_id = runlab.create_experiment(f"tiny-{uuid.uuid4().hex[:8]}")
    with runlab.start_run(experiment_id=experiment_id):
        info = runlab.transformers.log_model(classifier, artifact_path="clf")
    pipeline = mlflow_transformers.load_model(info.model_uri)
    assert pipeline(_TEXTS) == classifier(_TEXTS)
    predicted = mlflow_pyfunc.load_model(info.model_uri).predict(_TEXTS)
    pd.testing.assert_frame_equal(predicted, pd.DataFrame(classifier(_TEXTS)))
