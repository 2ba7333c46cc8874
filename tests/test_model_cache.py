"""OpenVINO's model cache (CACHE_DIR in bertvino's cache directory): a warm start loads the compiled model, and an
IR rewritten at the same path (`convert` again, a new default model) is compiled again, never served stale."""

import re
import shutil

import numpy as np
import openvino as ov

from bertvino.core.bundle import load_bundle
from bertvino.core.features import pad_batch
from bertvino.infer.cache import cache_dir
from bertvino.infer.classifier import Classifier

TEXTS = ["good film", "bad plot, bad acting", "the"]
POOLER_BIAS = "bert/pooler/dense/BiasAdd"


def pooled(bundle_dir) -> np.ndarray:
    classifier = Classifier(load_bundle(bundle_dir), precision="f32")
    return classifier.pooled(classifier.encode_batch(TEXTS))


def blobs() -> set:
    return {path for path in (cache_dir() / "openvino").rglob("*.blob")}


def shift_pooler_bias_in_the_bin(model_xml, out_bin, shift=0.5):
    """Write a copy of the IR's .bin whose pooler bias is `shift` larger, the .xml left byte for byte as it is: as
    when a model of the same shape is converted again (v2 and v3's model.xml are identical; only model.bin differs)."""
    model = ov.Core().read_model(model_xml)
    bias_add = next(op for op in model.get_ordered_ops() if op.get_friendly_name() == POOLER_BIAS)
    name = bias_add.input_value(1).get_node().get_friendly_name()
    layer = re.search(rf'name="{re.escape(name)}" type="Const"[^>]*>\s*<data [^>]*offset="(\d+)" size="(\d+)"',
                      model_xml.read_text())
    offset, size = int(layer.group(1)), int(layer.group(2))
    weights = bytearray(model_xml.with_suffix(".bin").read_bytes())
    bias = np.frombuffer(weights[offset:offset + size], dtype=np.float32) + np.float32(shift)
    weights[offset:offset + size] = bias.tobytes()
    out_bin.write_bytes(bytes(weights))


def test_a_warm_start_finds_the_compiled_model_in_the_cache(fp32_bundle, copy_bundle):
    bundle = copy_bundle(fp32_bundle)
    before = blobs()
    first = pooled(bundle)
    written = blobs() - before
    assert written  # the first compile wrote a blob
    np.testing.assert_array_equal(pooled(bundle), first)
    assert blobs() - before == written  # the second found it: no new blob


def test_weights_rewritten_at_the_same_path_are_compiled_again(fp32_bundle, copy_bundle, tmp_path):
    bundle = copy_bundle(fp32_bundle)
    old = pooled(bundle)  # compiled, and cached
    shift_pooler_bias_in_the_bin(bundle / "model.xml", tmp_path / "model.bin")
    shutil.copyfile(tmp_path / "model.bin", bundle / "model.bin")  # as `convert` rewrites it: same path and size

    classifier = Classifier(load_bundle(bundle), precision="f32")
    new = classifier.pooled(classifier.encode_batch(TEXTS))
    fresh = ov.Core().compile_model(bundle / "model.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})  # no cache
    want = fresh(pad_batch(classifier.encode_batch(TEXTS)))[fresh.output(0)]
    np.testing.assert_allclose(new, want, atol=1e-5)
    assert np.abs(new - old).max() > 0.01  # the shifted bias shows
