"""The transformers flavor: pipelines and part dicts, pyfunc predict by task, safe loading.

Every model here is built from a config with a tokenizer made from an in-memory vocabulary:
nothing is downloaded, and the Hub is switched off before transformers is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

# Before transformers (and huggingface_hub) are imported: they read this once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"

import runlab
from runlab.errors import AlreadyExists, InvalidParameter
from runlab.models import ModelSignature, infer_signature

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
pd = pytest.importorskip("pandas")

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [*_SPECIAL, "good", "bad", "movie", "great", "awful", "the", "a", "is", "was", "film"]
_WORDS += ["plot", "acting"]
_TEXTS = ["good movie", "awful plot", "the acting was great"]


def _tokenizer() -> Any:
    vocab = {word: index for index, word in enumerate(_WORDS)}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = tokenizers.normalizers.Lowercase()
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _bert_config(*labels: str) -> Any:
    """A one-layer BERT config over ``_WORDS``, with these class labels if any."""
    ids = {label: index for index, label in enumerate(labels)}
    named = {"id2label": dict(enumerate(labels)), "label2id": ids}
    return transformers.BertConfig(
        vocab_size=len(_WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        **(named if labels else {}),
    )


@pytest.fixture(scope="module")
def classifier() -> Any:
    """A text-classification pipeline over a tiny BERT with labels NEG and POS."""
    torch.manual_seed(0)
    config = _bert_config("NEG", "POS")
    model = transformers.BertForSequenceClassification(config).eval()
    return transformers.pipeline("text-classification", model=model, tokenizer=_tokenizer())


@pytest.fixture(scope="module")
def saved(classifier: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classifier saved once with an input example (tests that only read it share it)."""
    path = tmp_path_factory.mktemp("saved") / "model"
    runlab.transformers.save_model(classifier, path, input_example=_TEXTS[:2])
    return path


def _mlmodel(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())
    return data


def _write_mlmodel(path: Path, data: dict[str, Any]) -> None:
    (path / "MLmodel").write_text(yaml.safe_dump(data))


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _frame(outputs: list[dict[str, Any]]) -> Any:
    return pd.DataFrame(outputs)


def test_pipeline_round_trip_in_mlflow_layout(classifier: Any, saved: Path) -> None:
    assert (saved / "model" / "config.json").is_file()
    assert (saved / "model" / "model.safetensors").is_file()
    assert (saved / "components" / "tokenizer" / "tokenizer.json").is_file()
    assert not list(saved.rglob("*.bin")) and not list(saved.rglob("*.pkl"))
    flavors = _mlmodel(saved)["flavors"]
    conf = flavors["transformers"]
    assert conf["task"] == "text-classification"
    assert conf["instance_type"] == "TextClassificationPipeline"
    assert conf["pipeline_model_type"] == "BertForSequenceClassification"
    assert conf["model_binary"] == "model"
    assert conf["components"] == ["tokenizer"]
    assert conf["tokenizer_type"] == type(classifier.tokenizer).__name__
    assert conf["torch_dtype"] == "torch.float32"
    assert conf["transformers_version"] == transformers.__version__
    assert flavors["python_function"]["loader_module"] == "mlflow.transformers"
    assert "transformers==" in (saved / "requirements.txt").read_text()

    loaded = runlab.transformers.load_model(saved)
    assert isinstance(loaded, transformers.TextClassificationPipeline)
    assert loaded(_TEXTS) == classifier(_TEXTS)


def test_components_return_type(classifier: Any, saved: Path) -> None:
    parts = runlab.transformers.load_model(saved, return_type="components")
    assert parts["task"] == "text-classification"
    assert isinstance(parts["model"], transformers.BertForSequenceClassification)
    assert (
        parts["tokenizer"]("good movie")["input_ids"]
        == classifier.tokenizer("good movie")["input_ids"]
    )
    with pytest.raises(InvalidParameter, match="return_type"):
        runlab.transformers.load_model(saved, return_type="tensors")


@pytest.mark.parametrize("task", ["text-classification", None])
def test_dict_of_parts_with_a_given_or_inferred_task(
    classifier: Any, tmp_path: Path, task: str | None
) -> None:
    parts = {"model": classifier.model, "tokenizer": classifier.tokenizer}
    runlab.transformers.save_model(parts, tmp_path / "m", task=task)
    assert _mlmodel(tmp_path / "m")["flavors"]["transformers"]["task"] == "text-classification"
    loaded = runlab.transformers.load_model(tmp_path / "m")
    assert loaded(_TEXTS) == classifier(_TEXTS)


def test_pyfunc_predicts_for_a_string_a_list_and_a_frame(classifier: Any, saved: Path) -> None:
    model = runlab.pyfunc.load_model(saved)
    expected = _frame(classifier(_TEXTS))
    pd.testing.assert_frame_equal(model.predict(_TEXTS[0]), expected.head(1))
    pd.testing.assert_frame_equal(model.predict(_TEXTS), expected)
    pd.testing.assert_frame_equal(model.predict(pd.DataFrame({"text": _TEXTS})), expected)
    assert isinstance(model.get_raw_model(), transformers.Pipeline)


def test_text_pairs_as_a_two_column_frame(classifier: Any, tmp_path: Path) -> None:
    pairs = pd.DataFrame([{"text": "good movie", "text_pair": "bad plot"}])
    runlab.transformers.save_model(classifier, tmp_path / "m", input_example=pairs)
    model = runlab.pyfunc.load_model(tmp_path / "m")
    records = pairs.to_dict(orient="records")
    pd.testing.assert_frame_equal(model.predict(pairs), _frame(classifier(records)))
    assert not _frame(classifier(records)).equals(_frame(classifier(["good movie"])))

    other = pd.DataFrame([{"text": "a", "other": "b"}])
    runlab.transformers.save_model(
        classifier, tmp_path / "o", signature=infer_signature(other, _frame(classifier("a")))
    )
    with pytest.raises(InvalidParameter, match="text_pair"):
        runlab.pyfunc.load_model(tmp_path / "o").predict(other)


def test_signature_inferred_from_the_input_example(saved: Path) -> None:
    signature = runlab.models.Model.load(saved).signature
    assert signature is not None
    assert signature.to_dict() == {
        "inputs": '[{"type": "string", "required": true}]',
        "outputs": '[{"type": "string", "name": "label", "required": true}, '
        '{"type": "double", "name": "score", "required": true}]',
        "params": None,
    }
    assert json.loads((saved / "input_example.json").read_text()) == _TEXTS[:2]


def test_default_signature_for_the_task_without_an_example(classifier: Any, tmp_path: Path) -> None:
    runlab.transformers.save_model(classifier, tmp_path / "m")
    signature = _mlmodel(tmp_path / "m")["signature"]
    assert json.loads(signature["inputs"]) == [{"type": "string", "required": True}]
    assert [c["name"] for c in json.loads(signature["outputs"])] == ["label", "score"]


def test_declared_params_reach_the_pipeline_and_others_do_not(
    classifier: Any, tmp_path: Path
) -> None:
    with_params = infer_signature(
        _TEXTS, _frame(classifier(_TEXTS)), params={"function_to_apply": "softmax"}
    )
    runlab.transformers.save_model(classifier, tmp_path / "p", signature=with_params)
    model = runlab.pyfunc.load_model(tmp_path / "p")
    raw = model.predict(_TEXTS, params={"function_to_apply": "none"})
    pd.testing.assert_frame_equal(raw, _frame(classifier(_TEXTS, function_to_apply="none")))
    assert not raw["score"].between(0, 1).all()  # logits, not probabilities

    no_params = ModelSignature(with_params.inputs, with_params.outputs)
    runlab.transformers.save_model(classifier, tmp_path / "n", signature=no_params)
    plain = runlab.pyfunc.load_model(tmp_path / "n")
    pd.testing.assert_frame_equal(
        plain.predict(_TEXTS, params={"function_to_apply": "none"}), _frame(classifier(_TEXTS))
    )


def test_model_config_is_applied_on_every_call(classifier: Any, tmp_path: Path) -> None:
    runlab.transformers.save_model(
        classifier, tmp_path / "m", model_config={"function_to_apply": "none"}
    )
    assert _mlmodel(tmp_path / "m")["flavors"]["python_function"]["config"] == {
        "function_to_apply": "none"
    }
    out = runlab.pyfunc.load_model(tmp_path / "m").predict(_TEXTS)
    pd.testing.assert_frame_equal(out, _frame(classifier(_TEXTS, function_to_apply="none")))


def test_log_model_registers_and_loads_from_the_registry(
    classifier: Any, tracking_uri: str
) -> None:
    with runlab.start_run() as run:
        info = runlab.transformers.log_model(
            classifier, name="clf", registered_model_name="tiny-classifier"
        )
    assert info.run_id == run.info.run_id
    assert info.model_uri == f"runs:/{run.info.run_id}/clf"
    assert info.registered_model_version == 1
    assert info.flavors["transformers"]["task"] == "text-classification"
    model = runlab.pyfunc.load_model("models:/tiny-classifier/1")
    pd.testing.assert_frame_equal(model.predict(_TEXTS), _frame(classifier(_TEXTS)))


def test_log_model_with_the_artifact_path_spelling(classifier: Any, tracking_uri: str) -> None:
    with runlab.start_run() as run:
        info = runlab.transformers.log_model(
            {"model": classifier.model, "tokenizer": classifier.tokenizer},
            artifact_path="parts",
            task="text-classification",
        )
    assert info.model_uri == f"runs:/{run.info.run_id}/parts"
    names = {f.path for f in runlab.MlflowClient().list_artifacts(run.info.run_id, "parts")}
    assert {"parts/MLmodel", "parts/model", "parts/components"} <= names
    assert runlab.transformers.load_model(info.model_uri)(_TEXTS) == classifier(_TEXTS)


def _masked_lm() -> Any:
    torch.manual_seed(1)
    model = transformers.BertForMaskedLM(_bert_config()).eval()
    return transformers.pipeline("fill-mask", model=model, tokenizer=_tokenizer())


def _feature_extractor() -> Any:
    torch.manual_seed(2)
    model = transformers.BertModel(_bert_config()).eval()
    return transformers.pipeline("feature-extraction", model=model, tokenizer=_tokenizer())


def _generator() -> Any:
    torch.manual_seed(3)
    config = transformers.GPT2Config(
        vocab_size=len(_WORDS),
        n_embd=16,
        n_layer=1,
        n_head=2,
        n_positions=32,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    return transformers.pipeline("text-generation", model=model, tokenizer=_tokenizer())


def test_fill_mask_predicts_the_best_token(tmp_path: Path) -> None:
    pipeline = _masked_lm()
    runlab.transformers.save_model(pipeline, tmp_path / "m")
    model = runlab.pyfunc.load_model(tmp_path / "m")
    prompts = ["good [MASK]", "[MASK] movie"]
    assert model.predict(prompts) == [c[0]["token_str"] for c in pipeline(prompts)]
    assert model.predict(prompts[0]) == [pipeline(prompts[0])[0]["token_str"]]


def test_feature_extraction_gives_embeddings(tmp_path: Path) -> None:
    pipeline = _feature_extractor()
    runlab.transformers.save_model(pipeline, tmp_path / "m")
    assert json.loads(_mlmodel(tmp_path / "m")["signature"]["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    ]
    out = runlab.pyfunc.load_model(tmp_path / "m").predict(["good movie"])
    # MLflow's shape: the token embeddings of the first input.
    assert np.allclose(out, np.array(pipeline(["good movie"])[0][0]), atol=1e-6)
    assert out.shape == (2, 16)


def test_text_generation_with_generation_settings(tmp_path: Path) -> None:
    pipeline = _generator()
    settings = {"max_new_tokens": 3, "do_sample": False}
    runlab.transformers.save_model(pipeline, tmp_path / "m", model_config=settings)
    model = runlab.pyfunc.load_model(tmp_path / "m")
    out = model.predict(["good movie", "the plot"])
    expected = [
        g[0]["generated_text"].strip() for g in pipeline(["good movie", "the plot"], **settings)
    ]
    assert out == expected
    assert model.predict("good movie") == expected[:1]
    with pytest.raises(InvalidParameter, match="string"):
        model.predict(pd.DataFrame({"a": [1], "b": [2]}))


def test_token_classification_joins_the_entity_labels(tmp_path: Path) -> None:
    torch.manual_seed(4)
    config = _bert_config("O", "B-X", "I-X")
    model = transformers.BertForTokenClassification(config).eval()
    pipeline = transformers.pipeline("token-classification", model=model, tokenizer=_tokenizer())
    runlab.transformers.save_model(pipeline, tmp_path / "m")
    out = runlab.pyfunc.load_model(tmp_path / "m").predict(_TEXTS[:2])
    expected = [",".join(e["entity"] for e in entities) for entities in pipeline(_TEXTS[:2])]
    assert out == expected


def test_zero_shot_classification_gives_a_row_per_label(tmp_path: Path) -> None:
    torch.manual_seed(5)
    config = _bert_config("contradiction", "neutral", "entailment")
    model = transformers.BertForSequenceClassification(config).eval()
    pipeline = transformers.pipeline(
        "zero-shot-classification", model=model, tokenizer=_tokenizer()
    )
    runlab.transformers.save_model(pipeline, tmp_path / "m")
    predictor = runlab.pyfunc.load_model(tmp_path / "m")
    frame = pd.DataFrame(
        {
            "sequences": _TEXTS[:2],
            "candidate_labels": ['["good", "bad"]'] * 2,
            "hypothesis_template": ["This is {}."] * 2,
        }
    )
    out = predictor.predict(frame)
    raw = pipeline(_TEXTS[:2], candidate_labels=["good", "bad"], hypothesis_template="This is {}.")
    assert list(out.columns) == ["sequence", "labels", "scores"]
    assert out["labels"].tolist() == [label for row in raw for label in row["labels"]]
    assert np.allclose(out["scores"], [score for row in raw for score in row["scores"]])
    with pytest.raises(InvalidParameter, match="candidate_labels"):
        predictor.predict(frame.drop(columns="candidate_labels").assign(other=["x", "y"]))


def test_code_paths_are_copied_but_never_imported_from(classifier: Any, tmp_path: Path) -> None:
    helper = tmp_path / "helpers.py"
    helper.write_text("VALUE = 1\n")
    runlab.transformers.save_model(classifier, tmp_path / "m", code_paths=[helper])
    assert _mlmodel(tmp_path / "m")["flavors"]["transformers"]["code"] == "code"
    assert (tmp_path / "m" / "code" / "helpers.py").is_file()
    runlab.transformers.load_model(tmp_path / "m")
    runlab.pyfunc.load_model(tmp_path / "m")
    assert not any(entry.startswith(str(tmp_path / "m")) for entry in sys.path)


def test_model_card_and_the_options_runlab_does_not_take(
    classifier: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    card = pytest.importorskip("huggingface_hub").ModelCard("---\nlicense: mit\n---\n# Tiny\n")
    runlab.transformers.save_model(
        classifier, tmp_path / "m", model_card=card, save_pretrained=False
    )
    assert (tmp_path / "m" / "model_card.md").read_text().endswith("# Tiny\n")
    assert yaml.safe_load((tmp_path / "m" / "model_card_data.yaml").read_text()) == {
        "license": "mit"
    }
    assert (tmp_path / "m" / "model" / "model.safetensors").is_file()
    assert "save_pretrained=False is ignored" in caplog.text
    with pytest.raises(InvalidParameter, match="processor"):
        runlab.transformers.save_model(classifier, tmp_path / "p", processor=classifier.tokenizer)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        ("dict-without-model", {}, '"model" entry'),
        ("dict-with-extra-key", {}, "not parts of a pipeline"),
        ("dict", {"task": "no-such-task"}, "Unknown transformers pipeline task"),
        ("dict", {"task": "image-classification"}, "cannot be built"),
        ("string", {}, "Pipeline or a dict"),
        ("torch-module", {}, "PreTrainedModel"),
    ],
)
def test_bad_models_are_refused_and_nothing_is_written(
    classifier: Any, tmp_path: Path, model: str, kwargs: dict[str, Any], match: str
) -> None:
    given = {
        "dict-without-model": {"tokenizer": classifier.tokenizer},
        "dict-with-extra-key": {"model": classifier.model, "processor": classifier.tokenizer},
        "dict": {"model": classifier.model, "tokenizer": classifier.tokenizer},
        "string": "bert-base-uncased",
        "torch-module": {"model": torch.nn.Linear(2, 2)},
    }[model]
    with pytest.raises(InvalidParameter, match=match):
        runlab.transformers.save_model(given, tmp_path / "m", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_not_overwritten(classifier: Any, tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        runlab.transformers.save_model(classifier, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("components", ["../.."], "leaves the model folder"),
        ("components", ["weights"], "Unknown component"),
        ("components", "tokenizer", "list of names"),
        ("model_binary", "../..", "leaves the model folder"),
        ("pipeline_model_type", "Pipeline", "not a PreTrainedModel class"),
        ("pipeline_model_type", "os.system", "not a PreTrainedModel class"),
        ("tokenizer_type", "BertModel", "not a PreTrainedTokenizerBase class"),
        ("task", "no-such-task", "Unknown transformers pipeline task"),
        ("torch_dtype", "torch.nn", "not a torch dtype"),
    ],
)
def test_tampered_mlmodel_is_refused(
    saved: Path, tmp_path: Path, key: str, value: Any, match: str
) -> None:
    model = _copy(saved, tmp_path / "m")
    data = _mlmodel(model)
    data["flavors"]["transformers"][key] = value
    _write_mlmodel(model, data)
    with pytest.raises(InvalidParameter, match=match):
        runlab.transformers.load_model(model)
    with pytest.raises(InvalidParameter, match=match):
        runlab.pyfunc.load_model(model)


@pytest.mark.parametrize(
    ("config_path", "key", "value"),
    [
        ("model/config.json", "auto_map", {"AutoModel": "modeling_evil.EvilModel"}),
        ("model/config.json", "custom_pipelines", {"text-classification": {"impl": "evil.P"}}),
        (
            "components/tokenizer/tokenizer_config.json",
            "auto_map",
            {"AutoTokenizer": ["e.T", None]},
        ),
    ],
)
def test_a_config_asking_for_remote_code_is_refused(
    saved: Path, tmp_path: Path, config_path: str, key: str, value: Any
) -> None:
    model = _copy(saved, tmp_path / "m")
    config_file = model / config_path
    config = json.loads(config_file.read_text())
    config[key] = value
    config_file.write_text(json.dumps(config))
    with pytest.raises(InvalidParameter, match="trust_remote_code"):
        runlab.transformers.load_model(model)
    with pytest.raises(InvalidParameter, match="trust_remote_code"):
        runlab.pyfunc.load_model(model)


def test_pickled_weights_and_hub_references_are_refused(saved: Path, tmp_path: Path) -> None:
    pickled = _copy(saved, tmp_path / "pickled")
    (pickled / "model" / "model.safetensors").rename(pickled / "model" / "pytorch_model.bin")
    with pytest.raises(InvalidParameter, match="safetensors"):
        runlab.transformers.load_model(pickled)

    by_reference = _copy(saved, tmp_path / "hub")
    data = _mlmodel(by_reference)
    conf = data["flavors"]["transformers"]
    del conf["model_binary"]
    conf.update(source_model_name="some/repo", source_model_revision="abc123")
    _write_mlmodel(by_reference, data)
    with pytest.raises(InvalidParameter, match="never downloads"):
        runlab.transformers.load_model(by_reference)


def test_trust_remote_code_cannot_be_turned_on(saved: Path) -> None:
    with pytest.raises(InvalidParameter, match="trust_remote_code"):
        runlab.transformers.load_model(saved, trust_remote_code=True)


def test_the_framework_is_imported_on_use_with_an_install_hint() -> None:
    code = (
        "import sys, runlab.transformers\n"
        "assert 'transformers' not in sys.modules and 'torch' not in sys.modules\n"
        "sys.modules['transformers'] = None  # now importing it fails, as when not installed\n"
        "from runlab.models.flavors.framework_import import MissingFramework\n"
        "try:\n"
        "    runlab.transformers.load_model('.')\n"
        "except MissingFramework as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "pip install 'runlab[transformers]'" in done.stdout
