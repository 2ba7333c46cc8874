"""`bertvino validate`: a path's accuracy against f32's on the same labelled reviews, recorded in bundle.json.

This is the accuracy guard's input (infer/precision.py `guard`): auto runs bf16 or int8 only once it is recorded
and passes. Each path scores every review exactly as `bertvino score` does (the same batches, the same compiled
model settings), f32 included, and the record says on which data, how many reviews, both accuracies and the share of
reviews on which the two paths give the same label. Run it on reviews the model was neither trained nor calibrated
on (a validation split, or a test split).
"""

import csv
import tempfile
from pathlib import Path

from ..core.bundle import load_bundle, record_path_accuracy
from ..core.errors import BertvinoError
from ..core.reviews import read_reviews
from .classifier import Classifier
from .precision import guard, path_ir
from .scoring import score


def path_labels(bundle, path: str, data, split=None, device="CPU", progress=True) -> dict:
    """{source: (label, gold)} of every review under `data` on one path, scored as `score` scores."""
    classifier = Classifier(bundle, device=device, performance_hint="THROUGHPUT", precision=path)
    with tempfile.TemporaryDirectory(prefix="bertvino-validate-") as tmp:
        rows = Path(tmp) / f"{path}.csv"
        summary = score(data, classifier, output=rows, split=split, progress=progress)
        if summary.skipped:
            source, reason = summary.skipped[0]
            raise BertvinoError(f"{source}: {reason} ({len(summary.skipped)} inputs could not be read; validate "
                                "needs every review scored by both paths)")
        with open(rows, encoding="utf-8", newline="") as file:
            return {row["source"]: (row["label"], row["gold"]) for row in csv.DictReader(file)}


def compare(path_rows: dict, f32_rows: dict) -> dict:
    """Accuracy of a path and of f32 over the same labelled reviews, and how often their labels agree."""
    sources = sorted(source for source, (_, gold) in f32_rows.items() if gold)
    correct = lambda rows: sum(rows[s][0] == rows[s][1] for s in sources) / len(sources)  # noqa: E731
    return {"reviews": len(sources), "accuracy": round(correct(path_rows), 5),
            "float_accuracy": round(correct(f32_rows), 5),
            "agreement": round(sum(path_rows[s][0] == f32_rows[s][0] for s in sources) / len(sources), 5)}


def validate(bundle, data, paths, split=None, device="CPU", command=None, progress=True, say=print) -> dict:
    """Score `data` with f32 and each of `paths`, record each path's accuracy in bundle.json, return
    {path: (record, passed, why)}."""
    for path in paths:
        if path not in ("bf16", "int8"):
            raise BertvinoError(f"validate measures bf16 and int8 against f32, not {path!r}")
        model_xml, _ = path_ir(bundle, path)
        if not model_xml.is_file():
            raise BertvinoError(f"{bundle.path} has no INT8 IR ({model_xml.name}) to validate: make one with "
                                f"`bertvino convert {bundle.path} --precision int8 --calibration TRAIN_REVIEWS`")
    data = [data] if isinstance(data, (str, Path)) else list(data)
    if not any(review.label for review in read_reviews(data, split=split, on_skip=lambda *_: None)):
        raise BertvinoError(f"{', '.join(map(str, data))}: no review there has a label: validate needs labelled "
                            "reviews (aclImdb pos/neg folders, or CSV/JSONL with a label column)")
    say("scoring with f32, the reference")
    f32_rows = path_labels(bundle, "f32", data, split, device, progress)
    results = {}
    for path in paths:
        say(f"scoring with {path}")
        rows = path_labels(bundle, path, data, split, device, progress)
        record = {"data": ", ".join(Path(p).name for p in data) + (f" ({split}/)" if split else ""),
                  **compare(rows, f32_rows), "float_path": f"{bundle.model_xml.name} in f32 arithmetic",
                  **({"command": command} if command else {})}
        record_path_accuracy(bundle, path, {"test": record})
        bundle = load_bundle(bundle.path)
        results[path] = (record, *guard(bundle, path))
    return results
