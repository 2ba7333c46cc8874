"""Which NNCF settings keep a bundle's accuracy in INT8, chosen on validation data, never on test.

    python benchmarks/int8_settings.py [-m models/imdb-minilm] [--data ../shared/data/aclImdb_v1.tar.gz] \
        [--work DIR] [--settings fast,fast+snippets,fast-1000,fast-sq0.5,full]

Each setting quantizes the bundle's float IR (into a copy of the bundle under --work) with `nncf.quantize`,
`model_type=TRANSFORMER`, on reviews from the *training* part of aclImdb's train/, then scores the recipe's
validation split (the 5,000 held-out train reviews, `--validation-fraction 0.2 --seed 12345`) and its 9,952 first
and last sentences with the INT8 IR and with the float IR in f32 arithmetic. It reports accuracy and the share of
texts where both give the same label. The shipped setting (`convert --precision int8`) was chosen from this table.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.core.bundle import load_bundle
from bertvino.convert.ir import calibration_items
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import probabilities_in_order
from bertvino.core.reviews import read_reviews
from bertvino.train.snippets import cut_snippets
from bertvino.train.validation import held_out_mask, short_texts
from common import RESULTS_DIR, add_data_option, measured_on, write_results

# name: (calibration reviews, snippets added to them, fast bias correction, SmoothQuant alpha for MatMuls or None)
SETTINGS = {
    "fast": (300, 0, True, None),            # NNCF's defaults for a transformer: what v1's INT8 IR used
    "fast+snippets": (300, 300, True, None),  # calibrate on short text too
    "fast-1000": (1000, 0, True, None),
    "fast-sq0.5": (300, 0, True, 0.5),       # NNCF's default alpha is 0.95
    "full": (300, 0, False, None),           # full bias correction
}


def predictions(bundle, precision, sets) -> dict:
    classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision=precision)
    return {name: probabilities_in_order(classifier, texts, 64).argmax(axis=-1) for name, (texts, _) in sets.items()}


def quantize(bundle, texts, fast_bias_correction, smooth_quant_alpha, out: Path) -> float:
    """Quantize `bundle`'s float IR into a copy of the bundle at `out`; returns the seconds it took."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (AdvancedQuantizationParameters,
                                                       AdvancedSmoothQuantParameters)

    shutil.copytree(bundle.path, out)
    items = calibration_items(bundle, texts)
    extra = {} if smooth_quant_alpha is None else {"advanced_parameters": AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=smooth_quant_alpha))}
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
            size, snippet_count, fast, alpha = SETTINGS[name]
            seconds = quantize(bundle, calibration[:size] + snippets[:snippet_count], fast, alpha, Path(work) / name)
            int8 = predictions(load_bundle(Path(work) / name), "int8", sets)
            results["settings"][name] = {"quantize_s": round(seconds, 1), **{
                set_name: {"int8": round(float(np.mean(int8[set_name] == gold)), 4),
                           "same_label": round(float(np.mean(int8[set_name] == float_predictions[set_name])), 4)}
                for set_name, (_, gold) in sets.items()}}
            print(name, results["settings"][name], flush=True)
            write_results(args.out, results)


if __name__ == "__main__":
    main()
