"""`bertvino train`: the two passes, resuming, and the mistakes users make with it."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.core.errors import BertvinoError

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


@pytest.mark.parametrize("flag, value, message, status", [
    ("--max_seq_length", "2", "at least 3", 1),  # a whole number, as the flag's type asks: train itself refuses it
    ("--learning_rate", "0", "must be above 0", 2),  # the flag's parser refuses these: usage
    ("--warmup_proportion", "1.5", "at least 0 and below 1", 2),
    ("--train_batch_size", "0", "at least 1", 2),
])
def test_bad_flag_values_are_one_line_errors(tmp_path, pretrained_checkpoint, reviews_dir, capsys, flag, value,
                                             message, status):
    """Caught by train itself (status 1, a mistake) or, most of them, already by the flag's parser (status 2,
    usage), as the README promises."""
    folder = Path(pretrained_checkpoint).parent
    try:
        code = main(["train", "--data", str(reviews_dir), "--bert_config_file", str(folder / "bert_config.json"),
                     "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                     "--output_dir", str(tmp_path / "out"), flag, value])
    except SystemExit as usage_error:
        code = usage_error.code
    err = capsys.readouterr().err.strip()
    assert code == status and len(err.splitlines()) == 1 and message in err and flag in err


def test_unlabelled_training_data_is_refused(tmp_path, pretrained_checkpoint):
    (tmp_path / "unlabelled").mkdir()
    (tmp_path / "unlabelled" / "a.txt").write_text("a good movie")
    from bertvino.train.finetune import train
    with pytest.raises(BertvinoError, match="has no label"):
        train(_options(pretrained_checkpoint, tmp_path / "unlabelled", tmp_path / "out"))


def test_checkpoints_are_saved_by_time_as_well_as_by_steps(tmp_path, pretrained_checkpoint, reviews_dir):
    import tensorflow as tf
    from bertvino.train.finetune import train
    train(_options(pretrained_checkpoint, reviews_dir, tmp_path / "run", num_train_epochs=1, save_checkpoints_steps=3,
                   keep_checkpoint_max=100, save_checkpoints_secs=1e-9))
    saved = tf.train.get_checkpoint_state(str(tmp_path / "run")).all_model_checkpoint_paths
    assert [Path(p).name for p in saved] == [f"model.ckpt-{step}" for step in range(1, 5)]  # not just 3 and 4


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes_from_it(tmp_path, pretrained_checkpoint,
                                                                          reviews_dir):
    """A real `bertvino train` process, stopped by SIGTERM mid-run long before its first step checkpoint, then
    re-run. The first run is --verbose, so TensorFlow's log lines show (the pattern for them can fail); the re-run
    is a normal run, whose stderr must hold none."""
    import signal
    import subprocess
    import sys
    import time
    from checkpoints import TENSORFLOW_LOG_LINE, bertvino_process_env
    folder = Path(pretrained_checkpoint).parent
    command = [sys.executable, "-m", "bertvino", "train", "--data", str(reviews_dir),
               "--bert_config_file", str(folder / "bert_config.json"), "--vocab_file", str(folder / "vocab.txt"),
               "--init_checkpoint", pretrained_checkpoint, "--output_dir", str(tmp_path / "run"),
               "--max_seq_length", "32", "--train_batch_size", "8", "--num_train_epochs", "100",
               "--save_checkpoints_steps", "100000", "--save_checkpoints_secs", "0"]
    planned = int(44 / 8 * 100)  # 48 reviews, 4 held out for validation
    stderr_file = tmp_path / "first.err"
    with open(stderr_file, "wb") as stderr:
        process = subprocess.Popen(command + ["--verbose"], stdout=subprocess.DEVNULL, stderr=stderr,
                                   env=bertvino_process_env())
        deadline = time.monotonic() + 120
        while not re.search(rf"\b[1-9]\d*/{planned}\b", stderr_file.read_text(errors="replace")):
            assert process.poll() is None and time.monotonic() < deadline, stderr_file.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    message = stderr_file.read_text().replace("\r", "\n").strip().splitlines()[-1]
    assert process.returncode == 143, message
    stopped_at = int(re.search(rf"stopped by SIGTERM at step (\d+) of {planned}; saved \S+model\.ckpt-\1\. Run "
                               rf"the same command again to resume from step \1\.", message).group(1))
    assert 0 < stopped_at < planned
    assert TENSORFLOW_LOG_LINE.search(stderr_file.read_text())

    again = subprocess.run(command, capture_output=True, text=True, env=bertvino_process_env(), timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming at step {stopped_at}" in again.stdout and f"global_step = {planned}" in again.stdout
    assert (tmp_path / "run" / f"model.ckpt-{planned}.index").is_file()
    assert not TENSORFLOW_LOG_LINE.search(again.stderr), again.stderr


def test_a_directory_of_other_files_is_never_written_into(tmp_path, pretrained_checkpoint, reviews_dir):
    """--output_dir pointed at a model directory (its own bert_config.json, vocab.txt) would overwrite them."""
    from bertvino.train.finetune import train
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    config = (Path(pretrained_checkpoint).parent / "bert_config.json").read_text()
    (model_dir / "bert_config.json").write_text(config)
    (model_dir / "notes.txt").write_text("mine")
    with pytest.raises(BertvinoError, match="holds files but no bertvino training run"):
        train(_options(pretrained_checkpoint, reviews_dir, model_dir, no_dropout=True))
    assert (model_dir / "bert_config.json").read_text() == config and len(list(model_dir.iterdir())) == 2


def test_train_help_shows_every_default(capsys):
    import argparse
    from bertvino.cli import build_parser
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # help lines wrap anywhere
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    defaults = [action for action in train_parser._actions if action.default not in (None, False, argparse.SUPPRESS)]
    assert len(defaults) >= 14
    for action in defaults:
        assert f"(default: {action.default})" in shown, action.option_strings
