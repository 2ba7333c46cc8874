"""Convert: a bundle's `frozen.pb` -> OpenVINO IR (`model.xml` + `model.bin`), with clean input/output names.

OpenVINO's converter (`openvino.convert_model`, the successor of Model Optimizer) reads the frozen graph itself:
no TensorFlow import here. TensorFlow names tensors `input_ids:0` and `bert/pooler/dense/Tanh:0`; the IR's are
renamed to `input_ids`, `input_mask`, `segment_ids` and `pooled_output`, which is all `infer` knows about.

Precisions: FP32 keeps the weights; FP16 stores them in half precision (computation is still f32 on CPUs);
INT8 is NNCF's post-training quantization, calibrated on real reviews (`calibration`), which pays off only on
CPUs with fast int8 arithmetic (AVX-512 VNNI, AMX): measure with `bertvino bench`.
"""

import os
import random
import tempfile
import time
from pathlib import Path

from bertvino.bundle import INPUT_NAMES, OUTPUT_NAME, PRECISIONS, load_bundle, update_metadata
from bertvino.errors import BertvinoError, file_error, first_line


def convert(bundle_path, precision: str = "fp32", calibration=None, calibration_size: int = 300,
            calibration_split=None) -> Path:
    """Add (or replace) the bundle's IR. `calibration` (review files, as `score` reads; `calibration_split`
    picks e.g. aclImdb's train/ folder) is needed for INT8."""
    import openvino as ov

    if precision not in PRECISIONS:
        raise BertvinoError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and not calibration:
        raise BertvinoError("--precision int8 needs --calibration PATH: a few hundred real reviews to calibrate on")
    started = time.perf_counter()
    bundle = load_bundle(bundle_path, require_ir=False)
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
    if precision == "int8":
        model = _quantize(model, bundle, calibration, calibration_size, calibration_split)

    # Write beside the bundle's files, then publish: bundle.json first, model.bin, and model.xml last, so a
    # bundle is only ever loadable with a complete IR (a missing model.xml reads as "not converted").
    with tempfile.TemporaryDirectory(prefix=".convert.", dir=bundle.path) as tmp:
        try:
            ov.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=(precision == "fp16"))
        except RuntimeError as err:  # OpenVINO's C++ streams say only "iostream error" for a full disk
            raise file_error(bundle.path, f"cannot write the IR here ({first_line(err)}): is the disk full? "
                                          "The bundle is as it was") from None
        bundle.model_xml.unlink(missing_ok=True)
        update_metadata(bundle, precision=precision)
        os.replace(os.path.join(tmp, "model.bin"), bundle.model_bin)
        os.replace(os.path.join(tmp, "model.xml"), bundle.model_xml)
    print(f"Converted {bundle.frozen_graph} -> {bundle.model_xml} ({precision.upper()}) "
          f"in {time.perf_counter() - started:.1f} s")
    return bundle.model_xml


def _quantize(model, bundle, calibration, calibration_size, calibration_split):
    """NNCF post-training INT8 quantization, calibrated on a seeded sample of real reviews."""
    import nncf  # the train extra; when it is missing, the CLI names the extra to install
    from bertvino.features import Truncation, encode, pad_batch
    from bertvino.reviews import read_reviews

    tokenizer, truncation = bundle.tokenizer(), Truncation.from_string(bundle.truncation)
    reviews = read_reviews(calibration, split=calibration_split, on_skip=lambda *_: None)
    texts = _sample((review.text for review in reviews), calibration_size)
    paths = ", ".join(map(str, [calibration] if isinstance(calibration, (str, os.PathLike)) else calibration))
    if not texts:
        raise file_error(paths, "no reviews to calibrate INT8 quantization on")
    items = [pad_batch([encode(tokenizer, text, bundle.max_seq_length, truncation)]) for text in texts]
    print(f"Calibrating INT8 on {len(items)} reviews from {paths}"
          + (f" ({calibration_split}/ only)" if calibration_split else ""))
    return nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(items))


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
