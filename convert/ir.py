"""Convert: a bundle's `frozen.pb` -> OpenVINO IR (`model.xml` + `model.bin`), with clean input/output names.

OpenVINO's converter (`openvino.convert_model`, the successor of Model Optimizer) reads the frozen graph itself:
no TensorFlow import here. TensorFlow names tensors `input_ids:0` and `bert/pooler/dense/Tanh:0`; the IR's are
renamed to `input_ids`, `input_mask`, `segment_ids` and `pooled_output`, which is all `infer` knows about.
"""

import os
import tempfile
import time
from pathlib import Path

from bertvino.bundle import INPUT_NAMES, OUTPUT_NAME, PRECISIONS, load_bundle, update_metadata
from bertvino.errors import BertvinoError, file_error


def convert(bundle_path, precision: str = "fp32") -> Path:
    """Add (or replace) the bundle's IR. FP16 compresses the weights to half precision; FP32 keeps them."""
    import openvino as ov

    if precision not in PRECISIONS:
        raise BertvinoError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    started = time.perf_counter()
    bundle = load_bundle(bundle_path, require_ir=False)
    if not bundle.frozen_graph.is_file():
        raise file_error(bundle.frozen_graph, "missing: convert needs the frozen graph that `bertvino freeze` "
                                              "writes")
    inputs = [(f"{name}:0", [-1, -1], ov.Type.i32) for name in INPUT_NAMES]
    try:
        model = ov.convert_model(str(bundle.frozen_graph), input=inputs)
    except Exception as err:  # the converter raises its own exception types for unreadable graphs
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise file_error(bundle.frozen_graph, f"OpenVINO could not convert it: {first_line}") from None
    if len(model.outputs) != 1:
        raise file_error(bundle.frozen_graph, f"expected one output (the pooler), found {len(model.outputs)}")
    for port, name in zip(model.inputs, INPUT_NAMES):
        port.get_tensor().set_names({name})
        port.get_node().set_friendly_name(name)
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})

    # Write beside the bundle's files, then publish: bundle.json first, model.bin, and model.xml last, so a
    # bundle is only ever loadable with a complete IR (a missing model.xml reads as "not converted").
    with tempfile.TemporaryDirectory(prefix=".convert.", dir=bundle.path) as tmp:
        ov.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=(precision == "fp16"))
        bundle.model_xml.unlink(missing_ok=True)
        update_metadata(bundle, precision=precision)
        os.replace(os.path.join(tmp, "model.bin"), bundle.model_bin)
        os.replace(os.path.join(tmp, "model.xml"), bundle.model_xml)
    print(f"Converted {bundle.frozen_graph} -> {bundle.model_xml} ({precision.upper()}) "
          f"in {time.perf_counter() - started:.1f} s")
    return bundle.model_xml
