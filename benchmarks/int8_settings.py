"""Which NNCF settings keep a bundle's accuracy in INT8, chosen on validation data, never on test.

    python benchmarks/int8_settings.py [-m models/imdb-minilm] [--data ../shared/data/aclImdb_v1.tar.gz] \
        [--work DIR] [--settings fast,fast+snippets,fast-1000,fast-sq0.5,full,full-float-attention] \
        [--float-ops f32,bf16]

Each setting quantizes the bundle's float IR (into a copy of the bundle under --work) with `nncf.quantize`,
`model_type=TRANSFORMER`, on reviews from the *training* part of aclImdb's train/, then scores the recipe's
validation split (the 5,000 held-out train reviews, `--validation-fraction 0.2 --seed 12345`) and its 9,952 first
and last sentences with the INT8 IR and with the float IR in f32 arithmetic. It reports accuracy and the share of
texts where both give the same label. The shipped setting (`convert --precision int8`) was chosen from this table.
`--float-ops` scores each INT8 IR with the ops NNCF left in float in each of these arithmetics (the int8 path's
own choice is bf16 where the CPU has it natively, `infer/precision.py` `path_ir`).
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.core.bundle import load_bundle
from bertvino.convert.ir import calibration_items
from bertvino.infer import precision as precision_rules
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import probabilities_in_order
from bertvino.core.reviews import read_reviews
from bertvino.train.snippets import cut_snippets
from bertvino.train.validation import held_out_mask, short_texts
from common import RESULTS_DIR, add_data_option, measured_on, write_results

# name: (calibration reviews, snippets added to them, fast bias correction, SmoothQuant alpha for MatMuls or None,
#        attention's two products left in float)
SETTINGS = {
    "fast": (300, 0, True, None, False),            # NNCF's defaults for a transformer: what v1's INT8 IR used
    "fast+snippets": (300, 300, True, None, False),  # calibrate on short text too
    "fast-1000": (1000, 0, True, None, False),
    "fast-sq0.5": (300, 0, True, 0.5, False),       # NNCF's default alpha is 0.95
    "full": (300, 0, False, None, False),           # full bias correction
    "full-float-attention": (300, 0, False, None, True),  # ScaledDotProductAttention ignored: no int8 Q K^T
    "full-no-sq": (300, 0, False, -1, False),       # SmoothQuant off (alpha -1)
    "shipped": None,                                # the bundle's own INT8 IR, not re-made
}


def predictions(bundle, precision, sets, int8_float_ops=None) -> dict:
    """Labels of every set on a path; `int8_float_ops` overrides the int8 path's arithmetic for its float ops."""
    real_hint = precision_rules.int8_float_hint
    if int8_float_ops:  # the classifier takes the hint from the rule, so the rule answers differently for a moment
        precision_rules.int8_float_hint = lambda native_bf16: int8_float_ops
    try:
        classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision=precision)
    finally:
        precision_rules.int8_float_hint = real_hint
    return {name: probabilities_in_order(classifier, texts, 64).argmax(axis=-1) for name, (texts, _) in sets.items()}


def quantize(bundle, texts, fast_bias_correction, smooth_quant_alpha, float_attention, out: Path) -> float:
    """Quantize `bundle`'s float IR into a copy of the bundle at `out`; returns the seconds it took."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (AdvancedQuantizationParameters,
                                                       AdvancedSmoothQuantParameters)

    shutil.copytree(bundle.path, out)
    items = calibration_items(bundle, texts)
    extra = {} if smooth_quant_alpha is None else {"advanced_parameters": AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=smooth_quant_alpha))}
    if float_attention:
        extra["ignored_scope"] = nncf.IgnoredScope(types=["ScaledDotProductAttention"])
    started = time.perf_counter()
    model = nncf.quantize(ov.Core().read_model(str(out / "model.xml")), nncf.Dataset(items),
                          model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items),
                          fast_bias_correction=fast_bias_correction, **extra)
    seconds = time.perf_counter() - started
    ov.save_model(model, str(out / "model-int8.xml"), compress_to_fp16=False)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="models/imdb-minilm")
    add_data_option(parser)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names from SETTINGS")
    parser.add_argument("--work", help="where the quantized copies go (default: a temporary directory)")
    parser.add_argument("--float-ops", default="", help="comma-separated arithmetics (f32, bf16) for the INT8 IR's "
                                                      "float ops (default: the int8 path's own choice here)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "int8_settings.json"))
    args = parser.parse_args()

    bundle = load_bundle(args.model)
    reviews = list(read_reviews(args.data, split="train"))
    labels = np.array([bundle.labels.index(review.label) for review in reviews], dtype=np.int32)
    held_out = held_out_mask(labels, len(bundle.labels), 0.2, 12345)
    validation = [reviews[i].text for i in np.flatnonzero(held_out)]
    sets = {"validation_reviews": (validation, labels[held_out]),
            "validation_short": short_texts(validation, labels[held_out])}
    rng = np.random.default_rng(0)
    calibration = [reviews[i].text for i in rng.choice(np.flatnonzero(~held_out), 1000, replace=False)]
    snippets = [s for text in calibration[:300] for s in cut_snippets(text, 1, rng)][:300]

    float_predictions = predictions(bundle, "f32", sets)
    results = {"model": args.model, "sets": {name: len(texts) for name, (texts, _) in sets.items()},
               "f32": {name: round(float(np.mean(float_predictions[name] == gold)), 4)
                       for name, (_, gold) in sets.items()}, "settings": {}, **measured_on()}
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for name in args.settings.split(","):
            if SETTINGS[name] is None:
                quantized, seconds = bundle, None
            else:
                size, snippet_count, fast, alpha, float_attention = SETTINGS[name]
                seconds = quantize(bundle, calibration[:size] + snippets[:snippet_count], fast, alpha,
                                   float_attention, Path(work) / name)
                quantized = load_bundle(Path(work) / name)
            for float_ops in args.float_ops.split(",") if args.float_ops else [None]:
                int8 = predictions(quantized, "int8", sets, float_ops)
                key = f"{name} (float ops in {float_ops})" if float_ops else name
                results["settings"][key] = {"quantize_s": seconds and round(seconds, 1), **{
                    set_name: {"int8": round(float(np.mean(int8[set_name] == gold)), 4),
                               "same_label": round(float(np.mean(int8[set_name] == float_predictions[set_name])), 4)}
                    for set_name, (_, gold) in sets.items()}}
                print(key, results["settings"][key], flush=True)
                write_results(args.out, results)


if __name__ == "__main__":
    main()
