"""freeze -> convert: the bundle's contents, the IR against the frozen graph, and writers that never half-finish."""

import json
import os

import numpy as np
import pytest

from bertvino.core.bundle import load_bundle
from bertvino.cli import main
from bertvino.core.errors import BertvinoError
from bertvino.core.features import encode, pad_batch

pytest.importorskip("tensorflow")

TEXTS = ["the movie was good", "awful , boring and dull !", "great", "the plot the acting the film it was very "
         "un ##s wonderful and brilliant but also bad", "?"]


def run_frozen_graph(frozen_pb, arrays):
    """The frozen graph in TensorFlow: pooled output [batch, hidden]."""
    from bertvino.convert.tf_runtime import frozen_graph_output
    return frozen_graph_output(frozen_pb, arrays)


def run_ir(bundle_dir, arrays):
    """The IR in OpenVINO, computing in f32 (on bf16-capable CPUs OpenVINO would otherwise pick bf16)."""
    import openvino as ov
    from bertvino.infer.bench import compile_for, openvino_runner
    return openvino_runner(compile_for(ov.Core(), bundle_dir / "model.xml", "CPU", "LATENCY", "f32"))(arrays)


def batch(bundle_dir):
    bundle = load_bundle(bundle_dir, require_ir=False)
    return pad_batch([encode(bundle.tokenizer(), text, bundle.max_seq_length) for text in TEXTS])


def labels_of(pooled, bundle_dir):
    weight, bias = load_bundle(bundle_dir, require_ir=False).head()
    return np.argmax(pooled @ weight.T + bias, axis=-1)


def test_bundle_holds_graph_head_vocab_and_metadata(frozen_bundle, finetuned_checkpoint):
    import tensorflow as tf
    names = {p.name for p in frozen_bundle.iterdir()}
    assert names == {"bundle.json", "frozen.pb", "weight.npy", "bias.npy", "vocab.txt", "bert_config.json"}
    meta = json.loads((frozen_bundle / "bundle.json").read_text())
    assert meta["labels"] == ["negative", "positive"] and meta["max_seq_length"] == 32
    assert meta["precision"] is None and meta["provenance"]["global_step"] == 7
    weight = np.load(frozen_bundle / "weight.npy", allow_pickle=False)
    np.testing.assert_array_equal(weight, tf.train.load_variable(finetuned_checkpoint, "output_weights"))
    assert weight.shape == (2, 32) and np.load(frozen_bundle / "bias.npy").shape == (2,)


def test_frozen_graph_has_real_inputs_no_variables_no_random_ops(frozen_bundle):
    import tensorflow as tf
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((frozen_bundle / "frozen.pb").read_bytes())
    nodes = {node.name: node for node in graph_def.node}
    for name in ("input_ids", "input_mask", "segment_ids"):
        assert nodes[name].op == "Placeholder"
        assert nodes[name].attr["dtype"].type == tf.int32.as_datatype_enum
        assert [d.size for d in nodes[name].attr["shape"].shape.dim] == [-1, -1]
    assert "bert/pooler/dense/Tanh" in nodes
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VariableV2", "VarHandleOp", "RandomUniform", "TruncatedNormal"}
    assert not any(name.startswith(("cls/", "output_")) or "adam" in name for name in nodes)


def test_fp32_ir_matches_the_frozen_graph(fp32_bundle):
    arrays = batch(fp32_bundle)
    assert (arrays["input_mask"] == 0).any()  # padding is part of the comparison
    tf_pooled = run_frozen_graph(fp32_bundle / "frozen.pb", arrays)
    ov_pooled = run_ir(fp32_bundle, arrays)
    assert ov_pooled.shape == tf_pooled.shape == (len(TEXTS), 32)
    assert np.abs(ov_pooled - tf_pooled).max() < 1e-5
    np.testing.assert_array_equal(labels_of(ov_pooled, fp32_bundle), labels_of(tf_pooled, fp32_bundle))
    assert load_bundle(fp32_bundle).precision == "fp32"


def test_fp16_ir_is_close_to_the_frozen_graph(frozen_bundle, copy_bundle):
    from bertvino.convert.ir import convert
    bundle_dir = copy_bundle(frozen_bundle)
    convert(bundle_dir, precision="fp16")
    arrays = batch(bundle_dir)
    difference = np.abs(run_ir(bundle_dir, arrays) - run_frozen_graph(bundle_dir / "frozen.pb", arrays)).max()
    assert 0 < difference < 1e-2
    assert load_bundle(bundle_dir).precision == "fp16"


def test_ir_inputs_are_dynamic_int32_and_named_cleanly(fp32_bundle):
    import openvino as ov
    model = ov.Core().read_model(str(fp32_bundle / "model.xml"))
    assert [port.get_any_name() for port in model.inputs] == ["input_ids", "input_mask", "segment_ids"]
    for port in model.inputs:
        assert port.get_element_type() == ov.Type.i32 and port.get_partial_shape().is_dynamic
    assert model.outputs[0].get_any_name() == "pooled_output"


def test_freezing_accepts_the_checkpoint_directory(tmp_path, finetuned_checkpoint):
    from bertvino.convert.freeze import freeze
    bundle_dir = freeze(os.path.dirname(finetuned_checkpoint), tmp_path / "b", labels=["bad", "good"])
    assert load_bundle(bundle_dir, require_ir=False).labels == ("bad", "good")


def test_a_pretrained_checkpoint_is_refused_with_advice(tmp_path, pretrained_checkpoint):
    from bertvino.convert.freeze import freeze
    with pytest.raises(BertvinoError, match="no classifier head.*fine-tune it first"):
        freeze(pretrained_checkpoint, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_wrong_label_count_is_refused(tmp_path, finetuned_checkpoint):
    from bertvino.convert.freeze import freeze
    with pytest.raises(BertvinoError, match="2 outputs but 3 labels"):
        freeze(finetuned_checkpoint, tmp_path / "b", labels=["a", "b", "c"])


def test_a_killed_freeze_leaves_nothing_that_loads(tmp_path, finetuned_checkpoint, monkeypatch):
    from bertvino.convert import freeze as freeze_module

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(freeze_module.np, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        freeze_module.freeze(finetuned_checkpoint, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_freeze_onto_a_converted_bundle_is_refused_and_its_ir_survives(fp32_bundle, copy_bundle,
                                                                       finetuned_checkpoint, capsys):
    bundle_dir = copy_bundle(fp32_bundle)
    before = {p.name: p.read_bytes() for p in bundle_dir.iterdir()}
    code = main(["freeze", "--checkpoint", finetuned_checkpoint, "--output", str(bundle_dir), "--labels", "x,y"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert str(bundle_dir) in err and "converted model bundle" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in bundle_dir.iterdir()} == before
    assert load_bundle(bundle_dir).has_ir


def test_refreezing_replaces_a_bundle_when_asked_but_never_another_directory(tmp_path, finetuned_checkpoint):
    from bertvino.convert.freeze import freeze
    freeze(finetuned_checkpoint, tmp_path / "b")
    freeze(finetuned_checkpoint, tmp_path / "b", labels=["x", "y"], overwrite=True)
    assert load_bundle(tmp_path / "b", require_ir=False).labels == ("x", "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(BertvinoError, match="not a model bundle; refusing to overwrite"):
        freeze(finetuned_checkpoint, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_a_convert_killed_while_saving_keeps_the_old_ir(fp32_bundle, copy_bundle, monkeypatch):
    import openvino as ov
    from bertvino.convert.ir import convert
    bundle_dir = copy_bundle(fp32_bundle)

    def killed(model, path, compress_to_fp16):
        open(path, "w").write("<?xml")
        raise KeyboardInterrupt

    monkeypatch.setattr(ov, "save_model", killed)
    with pytest.raises(KeyboardInterrupt):
        convert(bundle_dir, precision="fp16")
    assert load_bundle(bundle_dir).precision == "fp32"
    np.testing.assert_array_equal(run_ir(bundle_dir, batch(bundle_dir)), run_ir(fp32_bundle, batch(bundle_dir)))
    assert not [p for p in bundle_dir.iterdir() if p.name.startswith(".")]


def test_a_convert_killed_while_publishing_leaves_no_ir(fp32_bundle, copy_bundle, monkeypatch):
    """Killed between replacing model.bin and model.xml: the bundle reads as unconverted, never as broken."""
    from bertvino.convert import ir
    bundle_dir = copy_bundle(fp32_bundle)
    real_replace = os.replace

    def killed_after_bin(source, target):
        real_replace(source, target)
        if str(target).endswith("model.bin"):
            raise KeyboardInterrupt

    monkeypatch.setattr(ir.os, "replace", killed_after_bin)
    with pytest.raises(KeyboardInterrupt):
        ir.convert(bundle_dir, precision="fp16")
    with pytest.raises(BertvinoError, match="has no OpenVINO IR"):
        load_bundle(bundle_dir)


def test_int8_from_a_bundle_without_ir_makes_the_float_ir_then_quantizes_beside_it(frozen_bundle, copy_bundle,
                                                                                  reviews_dir, capsys):
    pytest.importorskip("nncf")
    import openvino as ov
    from bertvino.convert.ir import convert
    bundle_dir = copy_bundle(frozen_bundle)
    convert(bundle_dir, precision="int8", calibration=[str(reviews_dir)], calibration_size=32)
    assert f"Calibrating INT8 on 32 reviews from {reviews_dir}\n" in capsys.readouterr().out
    bundle = load_bundle(bundle_dir)
    assert bundle.precision == "fp32" and bundle.has_int8_ir
    model = ov.Core().read_model(str(bundle.int8_xml))
    assert any(op.get_type_name() == "FakeQuantize" for op in model.get_ordered_ops())
    arrays = batch(bundle_dir)
    pooled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(arrays)["pooled_output"]
    difference = np.abs(pooled - run_frozen_graph(bundle_dir / "frozen.pb", arrays))
    # A tiny random model is hard on int8 (measured here: max 0.21, mean 0.03); real models are judged by
    # their IMDB accuracy in the benchmarks.
    assert difference.max() < 0.3 and difference.mean() < 0.06


def test_int8_without_calibration_is_refused(frozen_bundle, capsys):
    from bertvino.cli import main
    assert main(["convert", str(frozen_bundle), "--precision", "int8"]) == 1
    assert "needs --calibration" in capsys.readouterr().err


def test_freeze_prints_no_tensorflow_log_line(tmp_path, finetuned_checkpoint):
    """A real `bertvino freeze`, as a user runs it: stderr holds nothing at all (TensorFlow's lines show with
    --verbose: test_train's SIGTERM test checks that the pattern finds them)."""
    import subprocess
    import sys
    from checkpoints import bertvino_process_env
    result = subprocess.run([sys.executable, "-m", "bertvino", "freeze", "--checkpoint", finetuned_checkpoint,
                             "-o", str(tmp_path / "bundle")], capture_output=True, text=True,
                            env=bertvino_process_env(), timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("Froze ")
