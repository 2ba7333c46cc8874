"""`bertvino calibrate`: fit a bundle's calibration on labelled reviews and record it in bundle.json.

    labelled reviews (any input `score` reads) -> uncalibrated logits and lengths (the float IR, f32 arithmetic by
    default) -> `calibration.fit` -> ECE/NLL/Brier before and after -> bundle.json's `calibration` record

Fit on data the model was not trained on and that you will not test on (a validation split), mixing the kinds of
text the model will see: a temperature fitted on whole reviews alone is far too low for one-liners.
"""

import time

import numpy as np

from ..core.bundle import load_bundle, update_calibration
from ..core.errors import BertvinoError, file_error
from ..core.labels import gold_label
from ..core.reviews import read_reviews
from . import calibration, metrics
from .classifier import Classifier
from .scoring import logits_in_order


def labelled_reviews(paths, split, labels, skipped: list) -> tuple[list, np.ndarray]:
    """(texts, gold label indices) of every review under `paths`; a path without one review labelled with one
    of the model's labels is refused (calibration is fitted on right answers)."""
    texts, gold = [], []
    for path in paths:
        found = unlabelled = 0
        for review in read_reviews(path, split=split, on_skip=lambda source, reason: skipped.append((source,
                                                                                                      reason))):
            label = gold_label(review.label, labels)
            if label not in labels:
                unlabelled += 1
                continue
            texts.append(review.text)
            gold.append(labels.index(label))
            found += 1
        if not found:
            what = f"{unlabelled:,} reviews, none" if unlabelled else "no reviews"
            raise file_error(path, f"{what} with a gold label of this model ({', '.join(labels)}): calibrate "
                                   "fits on labelled reviews only")
    return texts, np.array(gold, dtype=np.int64)


def calibrate(bundle_path, data, split=None, method="length_temperature", device="CPU", precision="f32",
              batch_size=64, progress=True, write=True) -> dict:
    """Fit `method` on the labelled reviews under `data` and (with `write`) record it; returns the record."""
    bundle = load_bundle(bundle_path)
    if method not in calibration.METHODS:
        raise BertvinoError(f"unknown calibration method {method!r}: choose one of {', '.join(calibration.METHODS)}")
    read_reviews(data, split=split)  # a missing path fails now, before the model is compiled
    skipped = []
    texts, gold = labelled_reviews(data, split, bundle.labels, skipped)
    classifier = Classifier(bundle, device=device, performance_hint="THROUGHPUT", precision=precision)
    logits, lengths = logits_in_order(classifier, texts, batch_size, progress="calibrate" if progress else None)
    fitted = calibration.fit(logits, gold, lengths, method=method)
    before = _metrics(logits, gold)
    after = _metrics(fitted.apply(logits.astype(np.float64), lengths), gold)
    record = {**fitted.to_record(), "description": fitted.describe(),
              "fitted_on": {"data": [str(path) for path in data], "split": split, "texts": len(texts),
                            "median_length": int(np.median(lengths)), "skipped": len(skipped),
                            "logits": f"{classifier.choice.model_xml.name}, {classifier.choice.hint} "
                                      "arithmetic",
                            # a long text's logits depend on how it is read: refit when long_texts changes
                            "long_texts": bundle.long_texts},
              "before": before, "after": after,
              "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if write:
        update_calibration(bundle, record)
    return record


def _metrics(logits, gold) -> dict:
    report = metrics.Reliability.of(calibration.softmax(np.asarray(logits, dtype=np.float64)), gold).report()
    return {key: report[key] for key in ("ece", "nll", "brier", "mean_confidence")}
