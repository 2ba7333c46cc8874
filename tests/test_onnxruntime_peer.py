"""benchmarks/onnxruntime_peer.py: its --help runs where the peer's packages are missing (CI installs none of them),
and where they are installed, the ONNX graphs it builds fuse attention and compute what the IR computes."""

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import checkpoints

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_help_runs_without_the_peer_installed():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "onnxruntime_peer.py"), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--rounds" in result.stdout


def test_the_onnx_graphs_fuse_attention_and_match_the_ir(tmp_path, monkeypatch):
    for package in ("onnxruntime", "onnx", "tf2onnx", "sympy"):
        pytest.importorskip(package)
    from bertvino.convert.freeze import freeze
    from bertvino.convert.ir import convert
    from bertvino.core.bundle import load_bundle
    from bertvino.core.features import pad_batch
    from bertvino.infer.classifier import Classifier
    from bertvino.train.random_checkpoint import make_finetuned

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    peer = importlib.import_module("onnxruntime_peer")
    # Weights large enough that attention is far from uniform: at BERT's initialisation scale a query/key swap
    # moves the output by only ~1e-3.
    prefix = make_finetuned(tmp_path / "checkpoint", checkpoints.TINY_CONFIG, checkpoints.VOCAB, scale=0.5,
                            layer_norm_scale=0.1)
    bundle = freeze(prefix, tmp_path / "bundle", max_seq_length=32)
    convert(bundle, precision="fp32")

    fp32, int8, fp32_ops, int8_ops = peer.build_onnx(tmp_path, bundle)
    layers = checkpoints.TINY_CONFIG["num_hidden_layers"]
    assert fp32_ops["Attention"] == layers and fp32_ops["LayerNormalization"] == 2 * layers
    assert int8_ops["QAttention"] == layers and "MatMulInteger" in int8_ops

    arrays = pad_batch([[2, 5, 6, 20, 7, 3], [2, 11, 3]])  # the second padded: the mask reaches Attention
    compiled = Classifier(load_bundle(bundle), "CPU", "LATENCY", precision="f32").compiled
    openvino = compiled(arrays)[compiled.output(0)]
    onnx_fp32 = peer.onnxruntime_runner(peer.onnxruntime_session(fp32, 1))(arrays)
    assert np.abs(onnx_fp32 - openvino).max() < 1e-4
    onnx_int8 = peer.onnxruntime_runner(peer.onnxruntime_session(int8, 1))(arrays)
    assert onnx_int8.shape == openvino.shape and np.isfinite(onnx_int8).all()


def test_a_random_checkpoint_can_have_moved_layer_norms_and_no_dropout(tmp_path):
    """What the benchmark builds: LayerNorm off its initial gamma 1, beta 0 (a converter folds `0 - x`), from a
    config without dropout, as the default model's bert_config.json is (the head's dropout still needs a step)."""
    import tensorflow as tf

    from bertvino.train.random_checkpoint import make_finetuned

    config = {**checkpoints.TINY_CONFIG, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    prefix = make_finetuned(tmp_path, config, checkpoints.VOCAB, layer_norm_scale=0.1)
    reader = tf.train.load_checkpoint(prefix)
    gamma = reader.get_tensor("bert/encoder/layer_0/output/LayerNorm/gamma")
    beta = reader.get_tensor("bert/encoder/layer_0/output/LayerNorm/beta")
    assert 0.01 < np.abs(gamma - 1).mean() < 0.2 and 0.01 < np.abs(beta).mean() < 0.2
