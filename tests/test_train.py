"""`bertvino train`: the two passes, resuming, and the mistakes users make with it."""

import json
from pathlib import Path

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.errors import BertvinoError

pytest.importorskip("tensorflow")

RANDOM_OPS = {"RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal",
              "StatelessRandomUniformV2", "StatelessRandomNormalV2", "StatelessTruncatedNormalV2",
              "StatelessRandomUniform", "StatelessRandomNormal", "StatelessTruncatedNormal",
              "RandomShuffle", "Multinomial"}


def _options(init, data, output_dir, **overrides):
    from bertvino.train.finetune import TrainingOptions
    folder = Path(init).parent if not Path(init).is_dir() else Path(init)
    values = dict(bert_config_file=str(folder / "bert_config.json"), vocab_file=str(folder / "vocab.txt"),
                  init_checkpoint=str(init), data=[str(data)], output_dir=str(output_dir), max_seq_length=32,
                  train_batch_size=8, learning_rate=1e-3, num_train_epochs=20, validation_fraction=0.25,
                  save_checkpoints_steps=10)
    values.update(overrides)
    return TrainingOptions(**values)


def _graph_ops(meta_file):
    import tensorflow as tf
    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(Path(meta_file).read_bytes())
    return {node.op for node in meta.graph_def.node}


@pytest.fixture(scope="module")
def two_passes(tmp_path_factory, pretrained_checkpoint, reviews_dir):
    """Pass 1 from the pre-trained checkpoint, then the dropout-free pass 2 from pass 1's output."""
    from bertvino.train.finetune import train
    root = tmp_path_factory.mktemp("train")
    untrained = train(_options(pretrained_checkpoint, reviews_dir, root / "untrained", num_train_epochs=0.5,
                               learning_rate=1e-9))
    pass1 = train(_options(pretrained_checkpoint, reviews_dir, root / "pass1"))
    pass2 = train(_options(root / "pass1", reviews_dir, root / "pass2", no_dropout=True, num_train_epochs=1,
                           learning_rate=1e-4))
    return root, untrained, pass1, pass2


def test_pass1_lowers_the_loss_and_writes_run_classifier_checkpoints(two_passes):
    root, untrained, pass1, _ = two_passes
    assert pass1["eval_loss"] < untrained["eval_loss"] - 0.2
    assert pass1["eval_accuracy"] >= 0.9
    files = {p.name for p in (root / "pass1").iterdir()}
    step = pass1["global_step"]
    assert {f"model.ckpt-{step}.index", f"model.ckpt-{step}.meta", "checkpoint", "eval_results.txt",
            "bert_config.json", "vocab.txt", "train_info.json"} <= files
    results = (root / "pass1" / "eval_results.txt").read_text()
    assert "eval_accuracy = " in results and f"global_step = {step}" in results


def test_pass1_checkpoint_has_adam_slots_and_global_step(two_passes):
    import tensorflow as tf
    root, _, pass1, _ = two_passes
    names = dict(tf.train.list_variables(str(root / "pass1" / f"model.ckpt-{pass1['global_step']}")))
    assert "bert/encoder/layer_1/attention/self/query/kernel/adam_m" in names
    assert "output_weights/adam_v" in names
    assert "global_step" in names and "output_weights" in names


def test_pass2_keeps_accuracy_and_its_graph_has_no_random_ops(two_passes):
    root, _, pass1, pass2 = two_passes
    assert pass2["eval_accuracy"] >= 0.9
    assert pass2["eval_loss"] <= pass1["eval_loss"] + 0.05
    pass2_ops = _graph_ops(root / "pass2" / f"model.ckpt-{pass2['global_step']}.meta")
    assert not pass2_ops & RANDOM_OPS, pass2_ops & RANDOM_OPS
    pass1_ops = _graph_ops(root / "pass1" / f"model.ckpt-{pass1['global_step']}.meta")
    assert "RandomUniform" in pass1_ops  # the check can fail: pass 1's dropout is there
    config = json.loads((root / "pass2" / "bert_config.json").read_text())
    assert config["hidden_dropout_prob"] == 0.0 and config["attention_probs_dropout_prob"] == 0.0


def test_pass2_starts_from_pass1_weights(two_passes, reviews_dir):
    """Pass 2 with a learning rate too small to move anything leaves pass 1's weights (head included) as they are."""
    import tensorflow as tf
    from bertvino.train.finetune import train
    root, _, pass1, _ = two_passes
    train(_options(root / "pass1", reviews_dir, root / "still", no_dropout=True, num_train_epochs=0.5,
                   learning_rate=1e-12))
    pass1_checkpoint = str(root / "pass1" / f"model.ckpt-{pass1['global_step']}")
    still = tf.train.latest_checkpoint(str(root / "still"))
    for name in ("output_weights", "bert/encoder/layer_0/output/dense/kernel"):
        np.testing.assert_allclose(tf.train.load_variable(still, name),
                                   tf.train.load_variable(pass1_checkpoint, name), atol=1e-6)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, finetuned_checkpoint, reviews_dir):
    """Stopping after 5 of 12 steps and re-running gives the very weights of an uninterrupted run.

    Dropout-free (pass 2), so that the two runs are deterministic and can be compared exactly."""
    import tensorflow as tf
    from bertvino.train import finetune
    settings = dict(num_train_epochs=3, save_checkpoints_steps=5, validation_fraction=0.0, train_batch_size=12,
                    no_dropout=True)
    finetune.train(_options(finetuned_checkpoint, reviews_dir, tmp_path / "whole", **settings))
    interrupted = _options(finetuned_checkpoint, reviews_dir, tmp_path / "resumed", **settings)
    real_run_steps = finetune._run_steps

    def stop_after_first_save(session, model, saver, options, train_set, start, total, output_dir):
        real_run_steps(session, model, saver, options, train_set, start, 5, output_dir)
        raise KeyboardInterrupt

    finetune._run_steps = stop_after_first_save
    try:
        with pytest.raises(KeyboardInterrupt):
            finetune.train(interrupted)
    finally:
        finetune._run_steps = real_run_steps
    assert tf.train.latest_checkpoint(str(tmp_path / "resumed")).endswith("model.ckpt-5")
    finetune.train(interrupted)
    whole = tf.train.latest_checkpoint(str(tmp_path / "whole"))
    resumed = tf.train.latest_checkpoint(str(tmp_path / "resumed"))
    assert whole.endswith("-12") and resumed.endswith("-12")
    for name in ("output_weights", "bert/pooler/dense/kernel", "bert/embeddings/word_embeddings"):
        np.testing.assert_allclose(tf.train.load_variable(resumed, name), tf.train.load_variable(whole, name),
                                   atol=1e-5)


def test_resuming_with_other_flags_is_refused(tmp_path, pretrained_checkpoint, reviews_dir):
    from bertvino.train.finetune import train
    train(_options(pretrained_checkpoint, reviews_dir, tmp_path / "run", num_train_epochs=0.5))
    with pytest.raises(BertvinoError, match="other learning_rate"):
        train(_options(pretrained_checkpoint, reviews_dir, tmp_path / "run", num_train_epochs=0.5,
                       learning_rate=2e-3))


def test_no_dropout_needs_a_fine_tuned_checkpoint(tmp_path, pretrained_checkpoint, reviews_dir, capsys):
    folder = Path(pretrained_checkpoint).parent
    code = main(["train", "--data", str(reviews_dir), "--bert-config-file", str(folder / "bert_config.json"),
                 "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                 "--output_dir", str(tmp_path / "out"), "--no-dropout"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert pretrained_checkpoint in err and "no classifier head" in err


@pytest.mark.parametrize("flag, value, message", [
    ("--max_seq_length", "2", "at least 3"),
    ("--learning_rate", "0", "must be above 0"),
    ("--warmup_proportion", "1.5", "at least 0 and below 1"),
    ("--train_batch_size", "0", "at least 1"),
])
def test_bad_flag_values_are_one_line_errors(tmp_path, pretrained_checkpoint, reviews_dir, capsys, flag, value,
                                             message):
    """Caught by train itself (status 1) or, most of them, already by the flag's parser (status 2)."""
    folder = Path(pretrained_checkpoint).parent
    try:
        code = main(["train", "--data", str(reviews_dir), "--bert_config_file", str(folder / "bert_config.json"),
                     "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                     "--output_dir", str(tmp_path / "out"), flag, value])
    except SystemExit as usage_error:
        code = usage_error.code
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and len(err.splitlines()) == 1 and message in err and flag in err


def test_unlabelled_training_data_is_refused(tmp_path, pretrained_checkpoint):
    (tmp_path / "unlabelled").mkdir()
    (tmp_path / "unlabelled" / "a.txt").write_text("a good movie")
    from bertvino.train.finetune import train
    with pytest.raises(BertvinoError, match="has no label"):
        train(_options(pretrained_checkpoint, tmp_path / "unlabelled", tmp_path / "out"))
