"""Every user mistake ends in one line naming the file and the problem, exit status 1, and no traceback."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bertvino.cli import main


def run(argv, capsys):
    """(exit status, stderr) of the CLI, in-process."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_error(code, err, *fragments):
    assert code == 1, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert str(fragment) in err, (fragment, err)


# --- a damaged bundle, met by classify -----------------------------------------------------------------------

def damage(bundle_dir: Path, how: str):
    if how == "truncated model.bin":
        data = (bundle_dir / "model.bin").read_bytes()
        (bundle_dir / "model.bin").write_bytes(data[: len(data) // 2])
    elif how == "corrupt model.xml":
        (bundle_dir / "model.xml").write_text("<net><layers><layer id='0'")
    elif how == "missing model.bin":
        (bundle_dir / "model.bin").unlink()
    elif how == "head of the wrong shape":
        np.save(bundle_dir / "weight.npy", np.zeros((3, 32), np.float32))
    elif how == "pickled weight.npy":
        np.save(bundle_dir / "weight.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    elif how == "weight.npy is not numpy":
        (bundle_dir / "weight.npy").write_bytes(pickle.dumps([1, 2]))
    elif how == "vocab size not matching the embedding":
        with open(bundle_dir / "vocab.txt", "a") as vocab:
            vocab.write("extra\n")
    elif how == "missing vocab":
        (bundle_dir / "vocab.txt").unlink()
    elif how == "corrupt bundle.json":
        (bundle_dir / "bundle.json").write_text("{not json")
    elif how == "labels missing from bundle.json":
        meta = json.loads((bundle_dir / "bundle.json").read_text())
        del meta["labels"]
        (bundle_dir / "bundle.json").write_text(json.dumps(meta))
    elif how == "not converted":
        (bundle_dir / "model.xml").unlink()
    return bundle_dir


@pytest.mark.parametrize("how, blamed, says", [
    ("truncated model.bin", "model.xml", "cannot read this IR (Incorrect weights in bin file!)"),
    ("corrupt model.xml", "model.xml", "cannot read this IR (Unable to read the model"),
    ("missing model.bin", "model.bin", "missing"),
    ("head of the wrong shape", "weight.npy", "has shape [3, 32], expected [2, 32]"),
    ("pickled weight.npy", "weight.npy", "pickled"),
    ("weight.npy is not numpy", "weight.npy", "pickled"),
    ("vocab size not matching the embedding", "vocab.txt", "embedding table"),
    ("missing vocab", "vocab.txt", "missing"),
    ("corrupt bundle.json", "bundle.json", "not valid JSON"),
    ("labels missing from bundle.json", "bundle.json", "'labels'"),
    ("not converted", "", "run `bertvino convert"),
])
def test_a_damaged_bundle_is_named_and_explained(fp32_bundle, copy_bundle, capsys, how, blamed, says):
    bundle_dir = damage(copy_bundle(fp32_bundle), how)
    code, err = run(["classify", "-m", str(bundle_dir), "a good movie"], capsys)
    assert_one_line_error(code, err, bundle_dir / blamed if blamed else bundle_dir, says)


def test_a_missing_bundle_is_named(tmp_path, capsys):
    code, err = run(["classify", "-m", str(tmp_path / "nowhere"), "a good movie"], capsys)
    assert_one_line_error(code, err, tmp_path / "nowhere", "no such model bundle")


def test_the_real_command_prints_no_traceback(fp32_bundle, copy_bundle):
    bundle_dir = damage(copy_bundle(fp32_bundle), "pickled weight.npy")
    result = subprocess.run([sys.executable, "-m", "bertvino", "classify", "-m", str(bundle_dir), "hello"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("bertvino classify: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_empty_texts_are_an_error(fp32_bundle, capsys):
    code, err = run(["classify", "-m", str(fp32_bundle), "  "], capsys)
    assert_one_line_error(code, err, "the input could not be classified")


# --- freeze and convert ------------------------------------------------------------------------------------------

def test_convert_without_frozen_graph(frozen_bundle, copy_bundle, capsys):
    bundle_dir = copy_bundle(frozen_bundle)
    (bundle_dir / "frozen.pb").unlink()
    code, err = run(["convert", str(bundle_dir)], capsys)
    assert_one_line_error(code, err, bundle_dir / "frozen.pb", "missing")


def test_convert_a_corrupt_frozen_graph(frozen_bundle, copy_bundle, capsys):
    bundle_dir = copy_bundle(frozen_bundle)
    (bundle_dir / "frozen.pb").write_bytes(b"\x08\x01garbage" * 10)
    code, err = run(["convert", str(bundle_dir)], capsys)
    assert_one_line_error(code, err, bundle_dir / "frozen.pb", "OpenVINO could not convert it")
    assert not (bundle_dir / "model.xml").exists()


def test_convert_a_directory_that_is_no_bundle(tmp_path, capsys):
    code, err = run(["convert", str(tmp_path)], capsys)
    assert_one_line_error(code, err, tmp_path, "not a model bundle")


def test_bad_precision_is_a_usage_error(frozen_bundle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(frozen_bundle), "--precision", "fp8"])
    assert exit_info.value.code == 2 and "invalid choice: 'fp8'" in capsys.readouterr().err


@pytest.fixture
def checkpoint_copy(tmp_path, finetuned_checkpoint):
    """A copy of the fine-tuned checkpoint's folder, for tests that damage it; returns the new prefix."""
    import shutil
    folder = Path(shutil.copytree(Path(finetuned_checkpoint).parent, tmp_path / "ckpt"))
    return folder / Path(finetuned_checkpoint).name


def test_freeze_a_missing_checkpoint(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    code, err = run(["freeze", "--checkpoint", str(tmp_path / "model.ckpt-9"), "-o", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, tmp_path / "model.ckpt-9", "no such checkpoint")


def test_freeze_a_corrupt_checkpoint(checkpoint_copy, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    data_file = Path(f"{checkpoint_copy}.data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[:100])
    code, err = run(["freeze", "--checkpoint", str(checkpoint_copy), "-o", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, checkpoint_copy)
    assert not (tmp_path / "b").exists()


def test_freeze_with_a_config_of_another_shape(checkpoint_copy, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    config_file = checkpoint_copy.parent / "bert_config.json"
    config = json.loads(config_file.read_text())
    config["intermediate_size"] = 48
    config_file.write_text(json.dumps(config))
    code, err = run(["freeze", "--checkpoint", str(checkpoint_copy), "-o", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, checkpoint_copy, "intermediate/dense/kernel has shape [32, 64]",
                          "is bert_config.json the checkpoint's own?")


def test_freeze_with_a_vocab_of_another_size(checkpoint_copy, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    with open(checkpoint_copy.parent / "vocab.txt", "a") as vocab:
        vocab.write("extra\n")
    code, err = run(["freeze", "--checkpoint", str(checkpoint_copy), "-o", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, checkpoint_copy.parent / "vocab.txt", "embedding table")


@pytest.mark.parametrize("content, says", [
    ("{", "not valid JSON"),
    ('{"hidden_size": 32}', "no 'vocab_size'"),
    ('{"vocab_size": 38, "hidden_size": 30, "num_attention_heads": 4}', "not a multiple"),
    ('{"vocab_size": "many"}', "'vocab_size' must be int"),
])
def test_freeze_with_a_broken_config(checkpoint_copy, tmp_path, capsys, content, says):
    pytest.importorskip("tensorflow")
    (checkpoint_copy.parent / "bert_config.json").write_text(content)
    code, err = run(["freeze", "--checkpoint", str(checkpoint_copy), "-o", str(tmp_path / "b")], capsys)
    assert_one_line_error(code, err, checkpoint_copy.parent / "bert_config.json", says)
