"""Calibrate the default model and measure it: the fit, the choice of method, and the table in docs/calibration.md.

    python benchmarks/calibration.py collect   # logits of every set below, per precision path, cached
    python benchmarks/calibration.py choose    # each method fitted on half the validation reviews, checked on the rest
    python benchmarks/calibration.py record --method length_temperature   # fit on all validation, write bundle.json
    python benchmarks/calibration.py dev       # validation and dev sets before/after the bundle's own record
    python benchmarks/calibration.py test      # IMDB test, once, after every choice: before/after per path
    python benchmarks/calibration.py windows --windows windows:254,below:0.98   # long reviews read whole (or when
                                               # unsure) vs head+tail: validation accuracy and time

Fitting data (never IMDB test): the recipe's validation split of IMDB train (`bertvino train --validation_fraction
0.2 --seed 12345`, 2,500 + 2,500 reviews the model never trained on) as whole reviews, plus their first and last
sentences (train/validation.py `short_texts`, ~10,000 one-liners labelled by their review). short_reviews_dev.tsv and
no_sentiment_dev.tsv are never fitted on: they are the held-out checks. Logits are uncalibrated, so one collect
serves every fit; they are cached in --cache (npz per set and path). Results: benchmarks/results/calibration.json.
"""

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.core.bundle import load_bundle, update_calibration
from bertvino.core.features import SecondLook
from bertvino.core.reviews import read_reviews
from bertvino.infer import calibration, metrics
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import logits_in_order, score
from bertvino.models import find_model
from bertvino.train.validation import held_out_mask, short_texts
from common import DEFAULT_DATA, RESULTS_DIR, measured_on

DEV_SETS = ("short_reviews_dev", "no_sentiment_dev", "written_check")  # .tsv files beside --data (shared/data) ...
OWN_SETS = ("written_check",)  # ... or in benchmarks/data (README.md there)
FIT_SETS = ("validation_reviews", "validation_short")
PATHS = ("f32", "int8")
SEED, FRACTION = 12345, 0.2
RESULTS = RESULTS_DIR / "calibration.json"


def validation_sets(data, labels):
    """The recipe's validation reviews and their short texts, with label indices and each short text's review."""
    labels_of = {label: i for i, label in enumerate(labels)}
    reviews = list(read_reviews(data, split="train"))
    gold = np.array([labels_of[r.label] for r in reviews], dtype=np.int32)
    held_out = np.flatnonzero(held_out_mask(gold, len(labels), FRACTION, SEED))
    texts = [reviews[i].text for i in held_out]
    short, short_gold, owner = [], [], []
    for index, (text, label) in enumerate(zip(texts, gold[held_out])):
        pieces, _ = short_texts([text], [label])
        short += pieces
        short_gold += [label] * len(pieces)
        owner += [index] * len(pieces)
    return {"validation_reviews": (texts, gold[held_out], np.arange(len(texts))),
            "validation_short": (short, np.array(short_gold, dtype=np.int32), np.array(owner))}


def dev_set(path, labels):
    """A hand-written TSV (text, label); label 'none' (no opinion) gets -1: no gold, only confidence is measured."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    gold = [labels.index(row["label"]) if row["label"] in labels else -1 for row in rows]
    return [row["text"] for row in rows], np.array(gold, dtype=np.int32), np.arange(len(rows))


def dev_path(data, name) -> Path:
    return Path(__file__).parent / "data" / f"{name}.tsv" if name in OWN_SETS else Path(data).parent / f"{name}.tsv"


def cache_file(cache, name, path, reading="default"):
    return Path(cache) / f"{name}-{path}{'' if reading == 'default' else '-' + reading.replace(':', '')}.npz"


def collect(args, bundle, names=None, reading="default", paths=PATHS):
    """Logits, lengths and gold of every set, per precision path, into the cache (skipping what is there)."""
    sets = {}
    if names is None or set(names) & set(FIT_SETS):
        sets.update(validation_sets(args.data, bundle.labels))
    sets.update({name: dev_set(dev_path(args.data, name), bundle.labels) for name in DEV_SETS})
    if names and "test" in names:
        sets["test"] = test_set(args.data, bundle.labels)
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    for path in paths:
        classifier = None
        for name, (texts, gold, owner) in sets.items():
            if names is not None and name not in names:
                continue
            out = cache_file(args.cache, name, path, reading)
            if out.exists():
                continue
            classifier = classifier or Classifier(bundle, performance_hint="THROUGHPUT", precision=path,
                                                  long_texts=None if reading == "default" else reading)
            started = time.perf_counter()
            logits, lengths = logits_in_order(classifier, texts, args.batch_size, progress=f"{name} {path}")
            seconds = time.perf_counter() - started
            np.savez(out, logits=logits, lengths=lengths, gold=gold, owner=owner, seconds=seconds)
            print(f"{name} {path} {reading}: {len(texts)} texts in {seconds:.1f} s", flush=True)


def test_set(data, labels):
    reviews = list(read_reviews(data, split="test"))
    gold = np.array([labels.index(r.label) for r in reviews], dtype=np.int32)
    return [r.text for r in reviews], gold, np.arange(len(reviews))


def load(cache, name, path, reading="default"):
    with np.load(cache_file(cache, name, path, reading)) as data:
        return {key: data[key] for key in data.files}


def measure(logits, lengths, gold, calibrator=None) -> dict:
    """Accuracy and calibration metrics of logits (calibrated by `calibrator` if given); for a set without gold
    (no_sentiment_dev), the mean top probability only."""
    scaled = logits if calibrator is None else calibrator.apply(logits.astype(np.float64), lengths)
    probabilities = calibration.softmax(np.asarray(scaled, dtype=np.float64))
    top = probabilities.max(axis=1)
    result = {"texts": len(gold), "mean_top_probability": round(float(top.mean()), 4),
              "at_least_0.99": round(float(np.mean(top >= 0.99)), 4)}
    if (gold >= 0).all():
        report = metrics.Reliability.of(probabilities, gold).report()
        result.update(accuracy=round(float(np.mean(probabilities.argmax(1) == gold)), 4),
                      **{key: report[key] for key in ("ece", "nll", "brier")})
    return result


def fit_data(sets, pick=None):
    """Concatenated logits, gold and lengths of the fitting sets, only of the reviews in `pick` (and their short
    texts) when given."""
    parts = [(s["logits"], s["gold"], s["lengths"]) if pick is None else
             (s["logits"][np.isin(s["owner"], pick)], s["gold"][np.isin(s["owner"], pick)],
              s["lengths"][np.isin(s["owner"], pick)]) for s in sets]
    return tuple(np.concatenate(column) for column in zip(*parts))


def choose(args):
    """Each method fitted on one half of the validation reviews (with their short texts) and measured on the
    other half, both ways round, on f32 logits; plus the held-out dev sets with the fit on all validation."""
    sets = {name: load(args.cache, name, "f32") for name in FIT_SETS}
    reviews = len(sets["validation_reviews"]["gold"])
    halves = np.array_split(np.random.default_rng(SEED).permutation(reviews), 2)
    candidates = {"none": None, "temperature": {}, "length_temperature": {},
                  "bucket_temperature": {"edges": calibration.DEFAULT_BUCKET_EDGES}}
    table = {}
    for method, options in candidates.items():
        rows = {name: [] for name in FIT_SETS}
        for fit_half, check_half in (halves, halves[::-1]):
            calibrator = None if options is None else calibration.fit(*fit_data(sets.values(), fit_half),
                                                                       method=method, **options)
            for name, s in sets.items():
                keep = np.isin(s["owner"], check_half)
                rows[name].append(measure(s["logits"][keep], s["lengths"][keep], s["gold"][keep], calibrator))
        table[method] = {name: {key: round(float(np.mean([r[key] for r in runs])), 4) for key in runs[0]}
                         for name, runs in rows.items()}
        full = None if options is None else calibration.fit(*fit_data(sets.values()), method=method, **options)
        for name in DEV_SETS:
            dev = load(args.cache, name, "f32")
            table[method][name] = measure(dev["logits"], dev["lengths"], dev["gold"], full)
        if full is not None:
            table[method]["fitted_on_all_validation"] = full.describe()
        print(method, json.dumps(table[method]), flush=True)
    update_results({"choice": {"fit": "half the validation reviews and their short texts, f32 logits; measured on "
                                      "the other half, both ways round (mean); dev sets: fit on all validation",
                               "methods": table}})


def record(args, bundle):
    """Fit `--method` on all validation logits (f32) and write it into bundle.json with before/after per set."""
    sets = {name: load(args.cache, name, "f32") for name in FIT_SETS}
    options = {"edges": calibration.DEFAULT_BUCKET_EDGES} if args.method == "bucket_temperature" else {}
    calibrator = calibration.fit(*fit_data(sets.values()), method=args.method, **options)
    logits, gold, lengths = fit_data(sets.values())
    before, after = measure(logits, lengths, gold), measure(logits, lengths, gold, calibrator)
    record = {**calibrator.to_record(),
              "fitted_on": {"data": "aclImdb_v1 train/, the recipe's validation split (20 %, seed 12345): "
                                    f"{len(sets['validation_reviews']['gold'])} whole reviews and "
                                    f"{len(sets['validation_short']['gold'])} of their first and last sentences",
                            "texts": int(len(gold)), "logits": "float IR, f32 arithmetic"},
              "before": {key: before[key] for key in ("ece", "nll", "brier")},
              "after": {key: after[key] for key in ("ece", "nll", "brier")},
              "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": measured_on()["command"]}
    if args.write:
        update_calibration(bundle, record)
    report_before_and_after(args.cache, calibrator, PATHS, record)


def dev(args, bundle):
    """The validation and dev sets, per path, before and after the bundle's own calibration record (as shipped)."""
    collect(args, bundle, names=[*FIT_SETS, *DEV_SETS], paths=args.paths)
    calibrator = calibration.Calibration.from_record(bundle.calibration_record)
    report_before_and_after(args.cache, calibrator, args.paths, bundle.calibration_record)


def report_before_and_after(cache, calibrator, paths, record):
    """Every validation and dev set per path, uncalibrated and calibrated: printed, and into the results with the
    calibration record it measured."""
    table = {}
    for path in paths:
        for name in (*FIT_SETS, *DEV_SETS):
            data = load(cache, name, path)
            table[f"{name} {path}"] = {"before": measure(data["logits"], data["lengths"], data["gold"]),
                                       "after": measure(data["logits"], data["lengths"], data["gold"], calibrator)}
    print(calibrator.describe())
    print(json.dumps(table, indent=1))
    update_results({"record": record, "validation_and_dev": table})


def test(args, bundle):
    """IMDB test, all 25,000 reviews, per path, before and after the bundle's calibration."""
    collect(args, bundle, names=["test"], paths=args.paths)  # int8 first: auto's path on this CPU
    calibrator = calibration.Calibration.from_record(load_bundle(bundle.path).calibration_record)
    table = {}
    for path in args.paths:
        data = load(args.cache, "test", path)
        table[path] = {"before": measure(data["logits"], data["lengths"], data["gold"]),
                       "after": measure(data["logits"], data["lengths"], data["gold"], calibrator)}
        for when, by in (("before", None), ("after", calibrator)):
            plot(data, by, bundle.labels, RESULTS_DIR / f"calibration-imdb-test-{path}-{when}.png",
                 f"IMDB test, {path}, {when} calibration")
    print(json.dumps(table, indent=1))
    update_results({"imdb_test": table})


def plot(data, calibrator, labels, png, title):
    """The reliability diagram `score --plot` draws, from cached logits."""
    from bertvino.infer.plots import reliability_plot
    logits = data["logits"] if calibrator is None else calibrator.apply(data["logits"].astype(np.float64),
                                                                        data["lengths"])
    probabilities = calibration.softmax(np.asarray(logits, dtype=np.float64))
    confusion = metrics.Confusion(labels)
    confusion.counts = np.bincount(data["gold"] * len(labels) + probabilities.argmax(1),
                                   minlength=len(labels) ** 2).reshape(len(labels), len(labels))
    confusion.reliability.add(probabilities, data["gold"])
    reliability_plot(confusion.report(), png, title)


def windows(args, bundle):
    """Validation reviews read whole (--windows "windows:S", mean of logits) or with a second look ("windows:S,below:P":
    whole only where the truncated read is unsure) vs head+tail, int8 (auto's path here): accuracy on all 5,000, and
    the time `score` takes for the first --timing-reviews of them, the two readings interleaved, best of --repeats."""
    spec = args.windows
    collect(args, bundle, names=["validation_reviews"], paths=("int8",))
    collect(args, bundle, names=["validation_reviews"], reading=spec, paths=("int8",))
    truncated = load(args.cache, "validation_reviews", "int8")
    whole = load(args.cache, "validation_reviews", "int8", spec)
    accuracy = {name: round(float(np.mean(d["logits"].argmax(1) == d["gold"])), 4)
                for name, d in (("head+tail:64", truncated), (spec, whole))}
    texts = validation_sets(args.data, bundle.labels)["validation_reviews"][0]
    readers = {"head+tail:64": Classifier(bundle, performance_hint="THROUGHPUT", precision="int8"),
               spec: Classifier(bundle, performance_hint="THROUGHPUT", precision="int8", long_texts=spec)}
    reader = readers[spec]
    id_lists = reader.encode_batch(texts)
    rows = len(reader.reading.rows(id_lists, bundle.max_seq_length)[0])
    if isinstance(reader.reading, SecondLook):  # from the head+tail logits collected above: which texts it re-reads
        top = calibration.softmax(truncated["logits"].astype(np.float64)).max(axis=1)
        unsure = reader.reading.unsure(id_lists, top, bundle.max_seq_length)
        rows += len(reader.reading.second_rows([id_lists[i] for i in unsure], bundle.max_seq_length)[0])
    seconds = {name: [] for name in readers}
    with tempfile.TemporaryDirectory() as folder:
        reviews, rows_csv = Path(folder) / "reviews", Path(folder) / "rows.csv"
        reviews.mkdir()
        for index, text in enumerate(texts[:args.timing_reviews]):
            (reviews / f"{index}.txt").write_text(text, encoding="utf-8")
        for _ in range(args.repeats):
            for name, classifier in readers.items():
                started = time.perf_counter()
                score([reviews], classifier, output=rows_csv, overwrite=True, progress=False)
                seconds[name].append(time.perf_counter() - started)
    best = {name: round(min(times), 2) for name, times in seconds.items()}
    result = {"accuracy_on_validation_reviews": accuracy, "reviews": int(len(truncated["gold"])),
              "model_rows_for_all_reviews": {"head+tail:64": len(texts), spec: rows},
              "timing_reviews": min(args.timing_reviews, len(texts)), "timed_by": "bertvino score (AsyncBatches)",
              "seconds_best_of": args.repeats, "seconds": best,
              "time_ratio": round(best[spec] / best["head+tail:64"], 2),
              "gain_points": round(100 * (accuracy[spec] - accuracy["head+tail:64"]), 2), **measured_on()}
    print(json.dumps(result, indent=1))
    results = json.loads(RESULTS.read_text()).get("windows", {}) if RESULTS.exists() else {}
    update_results({"windows": {**(results if "gain_points" not in results else {"windows:128": results}),
                                spec: result}})


def update_results(part: dict):
    from bertvino.core.files import write_json_atomically
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(part)
    results.setdefault("commands", {})[sys.argv[1]] = measured_on()["command"]
    results["machine"] = measured_on()["machine"]
    write_json_atomically(RESULTS, results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("collect", "choose", "record", "dev", "test", "windows"))
    parser.add_argument("-m", "--model", default=None, help="bundle (default: the bundled model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cache", default="/tmp/bertvino-calibration", help="where logits are cached")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--method", default="length_temperature", choices=calibration.METHODS)
    parser.add_argument("--write", action="store_true", help="record: write the calibration into bundle.json")
    parser.add_argument("--windows", default="windows:128", help="windows: the long_texts setting to measure")
    parser.add_argument("--timing-reviews", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", type=lambda value: tuple(value.split(",")), default=("int8", "f32"),
                        help="dev, test: the precision paths to measure, in this order")
    args = parser.parse_args()
    bundle = load_bundle(find_model(args.model))
    if args.stage == "collect":
        collect(args, bundle, names=[*FIT_SETS, *DEV_SETS])
    elif args.stage == "choose":
        choose(args)
    elif args.stage == "record":
        record(args, bundle)
    elif args.stage == "dev":
        dev(args, bundle)
    elif args.stage == "test":
        test(args, bundle)
    else:
        windows(args, bundle)


if __name__ == "__main__":
    main()
