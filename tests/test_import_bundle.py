"""`bertvino import-bundle`: a bundle's float IR read back as the fine-tuned checkpoint it was frozen from."""

import json

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.core.bundle import load_bundle
from bertvino.train.checkpoint import load_variable, resolve_checkpoint, variable_shapes
from bertvino.train.import_bundle import import_bundle

HEAD = ("output_weights", "output_bias")


def _weights(prefix) -> dict:
    """Every BERT and head variable of a checkpoint (no Adam slots, global_step or cls/*)."""
    return {name: load_variable(prefix, name) for name in variable_shapes(prefix)
            if name.startswith(("bert/", *HEAD)) and "adam" not in name}


def test_an_fp32_bundle_gives_back_every_weight_of_its_checkpoint(tmp_path, fp32_bundle, finetuned_checkpoint):
    prefix = import_bundle(fp32_bundle, tmp_path / "ckpt")
    original, imported = _weights(finetuned_checkpoint), _weights(str(prefix))
    assert sorted(imported) == sorted(original)
    for name, value in original.items():
        np.testing.assert_array_equal(imported[name], value, err_msg=name)
    info = json.loads((tmp_path / "ckpt" / "import_info.json").read_text())
    assert info["ir_precision"] == "fp32" and info["labels"] == list(load_bundle(fp32_bundle).labels)


def test_an_fp16_bundle_gives_back_fp16_rounded_weights_that_freeze_to_the_same_model(tmp_path, fp32_bundle,
                                                                                      finetuned_checkpoint,
                                                                                      copy_bundle):
    from bertvino.convert.freeze import freeze
    from bertvino.convert.ir import convert
    from bertvino.infer.classifier import Classifier

    fp16 = copy_bundle(fp32_bundle)
    convert(fp16, precision="fp16")
    prefix = import_bundle(fp16, tmp_path / "ckpt")
    original, imported = _weights(finetuned_checkpoint), _weights(str(prefix))
    for name in original:
        if name not in HEAD:  # the head is weight.npy, never compressed
            rounded = original[name].astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(imported[name], rounded, err_msg=name)

    # the imported checkpoint freezes and converts again into a model that computes what the bundle computes
    again = freeze(resolve_checkpoint(tmp_path / "ckpt"), tmp_path / "again", max_seq_length=32)
    convert(again, precision="fp32")
    texts = ["good film", "bad plot, bad acting", "the"]
    logits = []
    for path in (fp16, again):
        classifier = Classifier(load_bundle(path), precision="f32")
        logits.append(classifier.logits(classifier.pooled(classifier.encode_batch(texts))))
    np.testing.assert_allclose(logits[1], logits[0], atol=1e-5)


def test_a_bundle_without_an_ir_is_refused_in_one_line(tmp_path, frozen_bundle, capsys):
    assert main(["import-bundle", str(frozen_bundle), "-o", str(tmp_path / "ckpt")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(frozen_bundle) in err
    assert not (tmp_path / "ckpt").exists()


def test_an_ir_that_is_not_a_frozen_bert_is_refused(tmp_path, fp32_bundle, copy_bundle, capsys):
    import openvino as ov
    bundle = copy_bundle(fp32_bundle)
    model = ov.Core().read_model(bundle / "model.xml")
    for op in model.get_ordered_ops():  # the op names are how weights are found: lose one
        if op.get_friendly_name() == "bert/encoder/layer_0/attention/self/query/MatMul":
            op.set_friendly_name("renamed")
    ov.save_model(model, tmp_path / "renamed.xml", compress_to_fp16=False)  # not over the mapped .bin it reads
    del model
    (tmp_path / "renamed.xml").replace(bundle / "model.xml")
    (tmp_path / "renamed.bin").replace(bundle / "model.bin")
    assert main(["import-bundle", str(bundle), "-o", str(tmp_path / "ckpt")]) == 1
    err = capsys.readouterr().err
    assert "layer_0/attention/self/query/MatMul" in err and "model.xml" in err
    assert not (tmp_path / "ckpt").exists()


def test_a_non_empty_output_is_refused(tmp_path, fp32_bundle, capsys):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "keep.txt").write_text("mine")
    assert main(["import-bundle", str(fp32_bundle), "-o", str(tmp_path / "ckpt")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "ckpt" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("command", [["import-bundle", "--help"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 0 and "--init_checkpoint" in capsys.readouterr().out


def test_layer_norms_that_are_not_the_identity_come_back(tmp_path, finetuned_checkpoint):
    """The converter drops a LayerNorm's gamma of ones and beta of zeros (the random checkpoints have those): give
    every LayerNorm and bias other values, so both routes (constants present, constants dropped) are exercised."""
    from bertvino.convert.freeze import freeze
    from bertvino.convert.ir import convert
    from bertvino.train.import_hf import write_checkpoint

    rng = np.random.default_rng(3)
    weights = _weights(finetuned_checkpoint)
    for name in weights:
        if "LayerNorm" in name or name.endswith("/bias"):
            weights[name] = (weights[name] + rng.normal(0, 0.1, weights[name].shape)).astype(np.float32)
    (tmp_path / "source").mkdir()
    write_checkpoint(weights, tmp_path / "source" / "model.ckpt-1")
    for name in ("bert_config.json", "vocab.txt"):
        (tmp_path / "source" / name).write_bytes((_checkpoint_dir(finetuned_checkpoint) / name).read_bytes())
    bundle = freeze(str(tmp_path / "source" / "model.ckpt-1"), tmp_path / "bundle", max_seq_length=32)
    convert(bundle, precision="fp32")

    imported = _weights(str(import_bundle(bundle, tmp_path / "ckpt")))
    for name, value in weights.items():
        np.testing.assert_array_equal(imported[name], value, err_msg=name)


def _checkpoint_dir(prefix):
    from pathlib import Path
    return Path(prefix).parent
