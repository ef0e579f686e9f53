"""Transformers autologging: ``runlab.transformers.autolog()`` around ``Trainer.train``.

Every model is a one-layer BERT with a 16-wide hidden state, built from a config, with a
tokenizer made from an in-memory vocabulary; it trains for four steps on eight sentences on
the CPU. Nothing is downloaded: the Hub is switched off before transformers is imported.
"""

from __future__ import annotations

import os

# Before transformers (and huggingface_hub) are imported: they read this once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runlab
import runlab.pyfunc
import runlab.transformers
from runlab.errors import InvalidParameter

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
pd = pytest.importorskip("pandas")

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [*_SPECIAL, "good", "bad", "movie", "great", "awful", "the", "film", "plot"]
_TEXTS = ["good movie", "awful film", "great plot", "bad movie"] * 2
_LABELS = [1, 0, 1, 0] * 2


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


TOKENIZER = _tokenizer()


class _Sentences(torch.utils.data.Dataset):
    """Tokenized sentences with their labels, as a Trainer takes them."""

    def __init__(self, texts: list[str], labels: list[int]) -> None:
        self.texts = texts
        self.labels = labels
        self.encoded = TOKENIZER(texts, padding="max_length", max_length=8)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": torch.tensor(self.encoded["input_ids"][index]),
            "attention_mask": torch.tensor(self.encoded["attention_mask"][index]),
            "labels": torch.tensor(self.labels[index]),
        }


class _Table(_Sentences):
    """Sentences that also convert to pandas, as a Hugging Face ``datasets.Dataset`` does."""

    def to_pandas(self) -> Any:
        return pd.DataFrame({"text": self.texts, "label": self.labels})


def _model() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(_WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        # No dropout: two trainings from the same seed end with the same weights.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label={0: "NEG", 1: "POS"},
        label2id={"NEG": 0, "POS": 1},
    )
    return transformers.BertForSequenceClassification(config)


def _trainer(
    output_dir: Path,
    trainer_class: Any = None,
    callbacks: list[Any] | None = None,
    dataset: type[_Sentences] = _Sentences,
    **arguments: Any,
) -> Any:
    settings: dict[str, Any] = {
        "max_steps": 4,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "eval_strategy": "steps",
        "eval_steps": 2,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
    }
    settings.update(arguments)
    args = transformers.TrainingArguments(output_dir=str(output_dir), **settings)
    return (trainer_class or transformers.Trainer)(
        model=_model(),
        args=args,
        train_dataset=dataset(_TEXTS, _LABELS),
        eval_dataset=dataset(_TEXTS[:4], _LABELS[:4]),
        processing_class=TOKENIZER,
        callbacks=callbacks,
    )


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    client = runlab.MlflowClient()
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def _steps(run_id: str, key: str) -> list[int]:
    return [step for step, _ in _history(run_id, key)]


def _runs() -> list[Any]:
    """The runs of the current experiment."""
    runs: list[Any] = runlab.search_runs(output_format="list")
    return runs


def _logged(trainer: Any, key: str) -> list[tuple[int, float]]:
    """What the trainer itself recorded for ``key``: (global step, value)."""
    return [(entry["step"], entry[key]) for entry in trainer.state.log_history if key in entry]


def _their_mlflow_callback() -> Any:
    """transformers' own MLflow callback (report_to="mlflow"), set to write through runlab.

    Built without its __init__, which imports the mlflow package; whatever it logged would
    land in the same run, so a double log would show in the histories.
    """
    callback = transformers.integrations.MLflowCallback.__new__(
        transformers.integrations.MLflowCallback
    )
    callback._MAX_PARAM_VAL_LENGTH = 6000
    callback._MAX_PARAMS_TAGS_PER_BATCH = 100
    callback._initialized = False
    callback._auto_end_run = False
    callback._log_artifacts = False
    callback._ml_flow = runlab
    return callback


def test_autolog_waits_for_the_trainer_to_be_imported() -> None:
    # The patch is installed when transformers.trainer is imported (which the first use of
    # transformers.Trainer does), not with the lazy transformers package itself.
    code = "\n".join(
        [
            "import sys, runlab.transformers",
            "from runlab.autologging import import_hooks",
            "runlab.transformers.autolog()",
            "assert 'transformers' not in sys.modules, 'autolog imported transformers'",
            "import transformers",
            "assert 'transformers.trainer' not in sys.modules, 'the Trainer was loaded early'",
            "assert 'transformers.trainer' in import_hooks._waiting",
        ]
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_train_logs_arguments_config_and_every_log_at_its_global_step(
    tracking: str, tmp_path: Path
) -> None:
    runlab.transformers.autolog(extra_tags={"team": "nlp"})
    # transformers' own MLflow callback (report_to="mlflow") is left out during train() and
    # put back where it was; ours is gone again.
    theirs = _their_mlflow_callback()
    trainer = _trainer(tmp_path / "out", callbacks=[theirs])
    before = list(trainer.callback_handler.callbacks)
    result = trainer.train()
    assert trainer.callback_handler.callbacks == before
    assert theirs._initialized is False  # it never ran: nothing was logged twice
    # An evaluation after training logs into the training's run, at the last global step.
    metrics = trainer.evaluate(_Sentences(_TEXTS[4:], _LABELS[4:]), metric_key_prefix="test")
    runlab.flush()

    run = runlab.last_active_run()
    assert run is not None
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "transformers"
    assert run.data.tags["team"] == "nlp"
    params = run.data.params
    # TrainingArguments and the model config, under the names transformers' MLflowCallback uses.
    assert params["learning_rate"] == "0.001"
    assert params["max_steps"] == "4"
    assert params["per_device_train_batch_size"] == "4"
    assert params["eval_strategy"] == "steps"
    assert params["hidden_size"] == "16"
    assert params["num_hidden_layers"] == "1"
    assert params["vocab_size"] == str(len(_WORDS))
    assert params["model_type"] == "bert"

    run_id = run.info.run_id
    for key in ("loss", "learning_rate", "grad_norm"):
        assert _history(run_id, key) == pytest.approx(_logged(trainer, key)), key
        assert _steps(run_id, key) == [1, 2, 3, 4], key
    # Training and evaluation logs both carry the epoch: one point per step.
    assert _steps(run_id, "epoch") == [1, 2, 3, 4]
    assert _history(run_id, "eval_loss") == pytest.approx(_logged(trainer, "eval_loss"))
    assert _steps(run_id, "eval_loss") == [2, 4]
    assert _steps(run_id, "eval_runtime") == [2, 4]
    assert _history(run_id, "train_loss") == [(4, pytest.approx(result.training_loss))]
    assert _steps(run_id, "train_runtime") == [4]
    assert _history(run_id, "test_loss") == [(4, pytest.approx(metrics["test_loss"]))]
    assert runlab.MlflowClient().list_artifacts(run_id) == []  # log_models is off by default


def test_models_and_checkpoints_when_asked(tracking_uri: str, tmp_path: Path) -> None:
    runlab.transformers.autolog(
        log_models=True, log_checkpoints=True, registered_model_name="tiny-sentiment"
    )
    # save_total_limit=1: checkpoint-2 is deleted when checkpoint-4 is saved, while its upload
    # may still wait in the background.
    trainer = _trainer(tmp_path / "out", save_strategy="steps", save_steps=2, save_total_limit=1)
    trainer.train()
    assert sorted(os.listdir(tmp_path / "out")) == ["checkpoint-4"]
    pipeline = transformers.pipeline(
        "text-classification", model=trainer.model, tokenizer=TOKENIZER
    )
    expected = pd.DataFrame(pipeline(_TEXTS[:3]))
    with torch.no_grad():  # the caller goes on changing the model: the logged one must not
        for parameter in trainer.model.parameters():
            parameter.zero_()
    runlab.flush()

    run = runlab.last_active_run()
    assert run is not None
    client = runlab.MlflowClient()
    run_id = run.info.run_id
    assert [f.path for f in client.list_artifacts(run_id, "checkpoints")] == [
        "checkpoints/checkpoint-2",
        "checkpoints/checkpoint-4",
    ]
    files = {f.path for f in client.list_artifacts(run_id, "checkpoints/checkpoint-2")}
    assert "checkpoints/checkpoint-2/model.safetensors" in files
    assert "checkpoints/checkpoint-2/trainer_state.json" in files

    loaded = runlab.pyfunc.load_model(f"runs:/{run_id}/model")
    predicted = loaded.predict(_TEXTS[:3])
    assert list(predicted["label"]) == list(expected["label"])
    assert list(predicted["score"]) == pytest.approx(list(expected["score"]), rel=1e-5)
    version = client.get_latest_versions("tiny-sentiment")[0]
    assert version.run_id == run_id


def test_a_user_run_is_left_open_and_datasets_recorded(tracking: str, tmp_path: Path) -> None:
    runlab.transformers.autolog(log_datasets=True)
    trainer = _trainer(tmp_path / "out", dataset=_Table)
    with runlab.start_run() as user_run:
        trainer.train()
        active = runlab.active_run()
        assert active is not None and active.info.run_id == user_run.info.run_id
    run = runlab.get_run(user_run.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "transformers"
    assert _steps(run.info.run_id, "loss") == [1, 2, 3, 4]
    contexts = sorted(
        tag.value
        for entry in run.inputs.dataset_inputs
        for tag in entry.tags
        if tag.key == "mlflow.data.context"
    )
    assert contexts == ["eval", "train"]
    assert len(_runs()) == 1


class _Boom(Exception):
    pass


class _FailAtStep(transformers.TrainerCallback):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 2:
            raise self.error


def test_training_error_propagates_and_fails_the_run(tracking: str, tmp_path: Path) -> None:
    runlab.transformers.autolog()
    error = _Boom("user callback failed")
    trainer = _trainer(tmp_path / "out", callbacks=[_FailAtStep(error)])
    with pytest.raises(_Boom) as raised:
        trainer.train()
    assert raised.value is error
    runlab.flush()
    (run,) = _runs()
    assert run.info.status == "FAILED"
    assert _steps(run.info.run_id, "loss") == [1]


class _DeleteRun(transformers.TrainerCallback):
    """Deletes the run autologging writes to after the first step (as another user could)."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 1:
            active = runlab.active_run()
            assert active is not None
            runlab.flush()
            runlab.MlflowClient().delete_run(active.info.run_id)


def test_failed_logging_leaves_training_alone(
    tracking: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("RUNLAB_AUTOLOG_STRICT")
    bare = _trainer(tmp_path / "bare")
    bare_result = bare.train()

    runlab.transformers.autolog(log_models=True)
    trainer = _trainer(tmp_path / "out", callbacks=[_DeleteRun()])
    with caplog.at_level(logging.WARNING, logger="runlab"):
        result = trainer.train()
        runlab.flush()
    assert result.training_loss == pytest.approx(bare_result.training_loss)
    for ours, theirs in zip(trainer.model.parameters(), bare.model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)
    assert any("transformers autologging failed" in r.getMessage() for r in caplog.records)


def test_disable_restores_the_trainer_and_enabling_twice_logs_once(
    tracking_uri: str, tmp_path: Path
) -> None:
    train, evaluate = transformers.Trainer.train, transformers.Trainer.evaluate
    runlab.transformers.autolog()
    assert transformers.Trainer.train is not train
    runlab.transformers.autolog(disable=True)
    assert transformers.Trainer.train is train
    assert transformers.Trainer.evaluate is evaluate

    runlab.transformers.autolog()
    runlab.transformers.autolog()
    _trainer(tmp_path / "on").train()
    runlab.flush()
    (run,) = _runs()
    assert _steps(run.info.run_id, "loss") == [1, 2, 3, 4]


def test_exclusive_leaves_a_user_run_alone(tracking: str, tmp_path: Path) -> None:
    runlab.transformers.autolog(exclusive=True)
    with runlab.start_run() as user_run:
        _trainer(tmp_path / "out").train()
    run = runlab.get_run(user_run.info.run_id)
    assert run.data.params == {}
    assert run.data.metrics == {}
    assert "mlflow.autologging" not in run.data.tags
    assert len(_runs()) == 1


def test_other_ranks_and_untrained_evaluations_log_nothing(
    tracking_uri: str, tmp_path: Path
) -> None:
    class OtherRank(transformers.Trainer):
        """A trainer as seen by a process other than the world's zero in a distributed run."""

        def is_world_process_zero(self) -> bool:
            return False

    runlab.transformers.autolog(log_models=True)
    result = _trainer(tmp_path / "out", trainer_class=OtherRank).train()
    assert result.global_step == 4
    # Evaluated but never trained with autologging on: there is no run to log it to.
    _trainer(tmp_path / "untrained").evaluate()
    runlab.flush()
    assert _runs() == []
    assert runlab.active_run() is None


def test_log_checkpoints_must_be_a_bool() -> None:
    with pytest.raises(InvalidParameter, match="log_checkpoints"):
        runlab.transformers.autolog(log_checkpoints="yes")  # type: ignore[arg-type]
