"""Convert: a bundle's `frozen.pb` -> float OpenVINO IR (`model.xml` + `model.bin`), and the float IR -> an INT8
IR beside it (`model-int8.xml` + `model-int8.bin`), with clean input/output names.

OpenVINO's converter (`openvino.convert_model`, the successor of Model Optimizer) reads the frozen graph itself:
no TensorFlow import here. TensorFlow names tensors `input_ids:0` and `bert/pooler/dense/Tanh:0`; the IR's are
renamed to `input_ids`, `input_mask`, `segment_ids` and `pooled_output`, which is all `infer` knows about.

Precisions: FP32 keeps the weights; FP16 stores them in half precision (computation is still f32 on CPUs);
INT8 is NNCF's post-training quantization of the bundle's float IR (so a bundle without frozen.pb, such as the
shipped default, can be quantized too), calibrated on real reviews, with `model_type=TRANSFORMER` (which keeps
accuracy; without it the shipped model lost 4 points). The INT8 IR sits beside the float one and `--precision
auto` uses it only on CPUs with fast int8 arithmetic and once its accuracy is measured (`bertvino.infer.precision`).
"""

import os
import random
import tempfile
import time
from pathlib import Path

from ..core.bundle import (FLOAT_IR, INPUT_NAMES, INT8_IR, OUTPUT_NAME, WEIGHT_FORMATS, load_bundle,
                             update_ir_record, update_metadata)
from ..core.errors import BertvinoError, file_error, first_line

CALIBRATION_SEED = 0


def convert(bundle_path, precision: str = "fp32", calibration=None, calibration_size: int = 300,
            calibration_split=None) -> Path:
    """Make the bundle's float IR from frozen.pb (fp32, fp16), or its INT8 IR from the float IR (int8;
    `calibration`: review files, as `score` reads; `calibration_split` picks e.g. aclImdb's train/ folder)."""
    if precision not in WEIGHT_FORMATS:
        raise BertvinoError(f"unknown precision {precision!r}: choose one of {', '.join(WEIGHT_FORMATS)}")
    if precision == "int8":
        return quantize(bundle_path, calibration, calibration_size, calibration_split)
    import openvino as ov

    started = time.perf_counter()
    bundle = load_bundle(bundle_path, require_ir=False)
    model = _convert_frozen_graph(bundle)
    # Write beside the bundle's files, then publish: bundle.json first, model.bin, and model.xml last, so a
    # bundle is only ever loadable with a complete IR (a missing model.xml reads as "not converted").
    with tempfile.TemporaryDirectory(prefix=".convert.", dir=bundle.path) as tmp:
        _save_model(model, os.path.join(tmp, FLOAT_IR), precision == "fp16", bundle)
        bundle.model_xml.unlink(missing_ok=True)
        update_metadata(bundle, precision=precision)
        update_ir_record(bundle, FLOAT_IR, {"precision": precision, "made_from": "frozen.pb",
                                            "openvino": ov.__version__}, replace=True)
        os.replace(os.path.join(tmp, "model.bin"), bundle.model_bin)
        os.replace(os.path.join(tmp, FLOAT_IR), bundle.model_xml)
    print(f"Converted {bundle.frozen_graph} -> {bundle.model_xml} ({precision.upper()}) "
          f"in {time.perf_counter() - started:.1f} s")
    return bundle.model_xml


def _convert_frozen_graph(bundle):
    import openvino as ov

    if not bundle.frozen_graph.is_file():
        raise file_error(bundle.frozen_graph, "missing: convert needs the frozen graph that `bertvino freeze` "
                                              "writes")
    inputs = [(f"{name}:0", [-1, -1], ov.Type.i32) for name in INPUT_NAMES]
    try:
        model = ov.convert_model(str(bundle.frozen_graph), input=inputs)
    except Exception as err:  # the converter raises its own exception types for unreadable graphs
        raise file_error(bundle.frozen_graph, f"OpenVINO could not convert it: {first_line(err)}") from None
    if len(model.outputs) != 1:
        raise file_error(bundle.frozen_graph, f"expected one output (the pooler), found {len(model.outputs)}")
    for port, name in zip(model.inputs, INPUT_NAMES):
        port.get_tensor().set_names({name})
        port.get_node().set_friendly_name(name)
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    return model


def quantize(bundle_path, calibration, calibration_size: int = 300, calibration_split=None) -> Path:
    """Quantize the bundle's float IR to INT8 with NNCF into model-int8.xml/.bin, leaving the float IR as it is.

    A bundle with only frozen.pb gets its FP32 IR first. The new IR's record in bundle.json says how it was made
    and has no accuracy yet, so `--precision auto` does not use it until it is measured.
    """
    import nncf  # noqa: F401  (the train extra) before any work: a missing extra must not leave a new FP32 IR
    import openvino as ov

    if not calibration:
        raise BertvinoError("--precision int8 needs --calibration PATH: a few hundred real reviews to calibrate on")
    if calibration_size < 1:
        raise BertvinoError("--calibration-size must be at least 1")
    started = time.perf_counter()
    bundle = load_bundle(bundle_path, require_ir=False)
    if not bundle.has_ir:
        print(f"{bundle.path} has no float IR yet: converting frozen.pb to FP32 first")
        convert(bundle.path, precision="fp32")
        bundle = load_bundle(bundle_path)
    if bundle.precision == "int8":
        raise file_error(bundle.model_xml, "is already an INT8 IR (made by an older bertvino); re-make the float "
                                           f"IR with `bertvino convert {bundle.path}` and quantize that")
    try:
        model = ov.Core().read_model(str(bundle.model_xml))
    except RuntimeError as err:
        raise file_error(bundle.model_xml, f"OpenVINO cannot read this IR: {first_line(err)}") from None
    model, settings = _quantize(model, bundle, calibration, calibration_size, calibration_split)
    with tempfile.TemporaryDirectory(prefix=".convert.", dir=bundle.path) as tmp:
        _save_model(model, os.path.join(tmp, INT8_IR), False, bundle)
        bundle.int8_xml.unlink(missing_ok=True)
        update_ir_record(bundle, INT8_IR, {
            "precision": "int8", "made_from": f"{FLOAT_IR} ({(bundle.precision or 'fp32').upper()} IR)",
            "openvino": ov.__version__, **settings}, replace=True)
        os.replace(os.path.join(tmp, "model-int8.bin"), bundle.int8_bin)
        os.replace(os.path.join(tmp, INT8_IR), bundle.int8_xml)
    print(f"Quantized {bundle.model_xml} -> {bundle.int8_xml} (INT8) in {time.perf_counter() - started:.1f} s. "
          f"--precision auto uses it once its accuracy is measured and recorded in bundle.json")
    return bundle.int8_xml


def _save_model(model, xml_path, compress_to_fp16: bool, bundle):
    import openvino as ov
    try:
        ov.save_model(model, xml_path, compress_to_fp16=compress_to_fp16)
    except RuntimeError as err:  # OpenVINO's C++ streams say only "iostream error" for a full disk
        raise file_error(bundle.path, f"cannot write the IR here ({first_line(err)}): is the disk full? "
                                      "The bundle is as it was") from None


def _quantize(model, bundle, calibration, calibration_size, calibration_split):
    """NNCF post-training INT8 quantization, calibrated on a seeded sample of real reviews; returns the model and
    the settings to record (names of the data, never absolute paths)."""
    import nncf  # the train extra; when it is missing, the CLI names the extra to install
    from ..core.reviews import read_reviews

    reviews = read_reviews(calibration, split=calibration_split, on_skip=lambda *_: None)
    texts = _sample((review.text for review in reviews), calibration_size, seed=CALIBRATION_SEED)
    calibration = [calibration] if isinstance(calibration, (str, os.PathLike)) else calibration
    paths = ", ".join(map(str, calibration))
    if not texts:
        raise file_error(paths, "no reviews to calibrate INT8 quantization on"
                         + (f" under a {calibration_split}/ folder" if calibration_split else ""))
    items = calibration_items(bundle, texts)
    print(f"Calibrating INT8 on {len(items)} reviews from {paths}"
          + (f" ({calibration_split}/ only)" if calibration_split else ""))
    # Full bias correction, not NNCF's fast default: on the default model's validation split it kept short-text
    # accuracy (72.06 % against f32's 72.08 %, where the fast one lost 0.47 points) and agreed with f32 on 99.6 %
    # of reviews (99.3 %), for about a minute more, once.
    fast_bias_correction = False
    quantized = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(items), fast_bias_correction=fast_bias_correction)
    settings = {
        "nncf": {"version": nncf.__version__, "function": "nncf.quantize", "model_type": "TRANSFORMER",
                 "preset": "default (MIXED for TRANSFORMER: symmetric weights, asymmetric activations)",
                 "fast_bias_correction": fast_bias_correction, "subset_size": len(items)},
        "calibration": {"data": [Path(path).name for path in calibration], "split": calibration_split,
                        "reviews": len(items), "sample": f"uniform random, seed {CALIBRATION_SEED}",
                        "max_seq_length": bundle.max_seq_length, "truncation": bundle.truncation,
                        "batch": "one review per item, unpadded"}}
    return quantized, settings


def calibration_items(bundle, texts) -> list[dict]:
    """NNCF's calibration items for `texts`: one review per item, unpadded, tokenized and truncated as the bundle
    says, so the ranges are those of the inputs the IR will see."""
    from ..core.features import Truncation, encode, pad_batch

    tokenizer, truncation = bundle.tokenizer(), Truncation.from_string(bundle.truncation)
    return [pad_batch([encode(tokenizer, text, bundle.max_seq_length, truncation)]) for text in texts]


def _sample(items, size, seed=0):
    """A uniform random sample of `size` items from a stream of unknown length (reservoir sampling), so the
    calibration set is not just the first folder of an archive."""
    rng = random.Random(seed)
    sample = []
    for seen, item in enumerate(items):
        if len(sample) < size:
            sample.append(item)
        elif (slot := rng.randrange(seen + 1)) < size:
            sample[slot] = item
    return sample
