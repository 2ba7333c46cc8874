"""Accuracy of bundles on short text: the short-text validation set that `train` reports, through OpenVINO.

    python benchmarks/short_text_accuracy.py -m models/imdb-minilm [-m OTHER ...] \
        [--data ../shared/data/aclImdb_v1.tar.gz] [--validation-fraction 0.2 --seed 12345]

The set is rebuilt exactly as `bertvino train --validation_fraction F --seed S` carves it from aclImdb's train/
(the recipe's 20 %, seed 12345: 2,500 + 2,500 reviews that the shipped models never trained on), then cut into the
first and the last sentence of each review (>= 4 words), labelled by their review. Reports, per bundle, accuracy on
those short texts and on the whole held-out reviews, so a run is chosen on validation data, never on IMDB test.
`--test-last-sentences N` adds the issue's reference measure: the last sentence of N test reviews sampled with
`--seed` (a final number, not for choosing).
"""

import argparse
import json

import numpy as np

from bertvino.core.bundle import load_bundle
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import probabilities_in_order
from bertvino.core.reviews import read_reviews
from bertvino.train.snippets import MIN_WORDS, split_sentences
from bertvino.train.validation import held_out_mask, short_texts
from common import RESULTS_DIR, add_data_option, measured_on, write_results


def accuracy(classifier: Classifier, texts, labels, batch_size=64) -> float:
    """Share of `texts` whose predicted label index equals `labels`."""
    predicted = probabilities_in_order(classifier, texts, batch_size).argmax(axis=-1)
    return float(np.mean(predicted == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", action="append", required=True, help="bundle directory (repeatable)")
    add_data_option(parser)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--test-last-sentences", type=int, default=0, metavar="N")
    parser.add_argument("--out", default=str(RESULTS_DIR / "short_text.json"))
    args = parser.parse_args()

    bundles = [load_bundle(path) for path in args.model]
    labels_of = {label: i for i, label in enumerate(bundles[0].labels)}
    reviews = list(read_reviews(args.data, split="train"))
    labels = np.array([labels_of[r.label] for r in reviews], dtype=np.int32)
    held_out = held_out_mask(labels, len(labels_of), args.validation_fraction, args.seed)
    texts = [reviews[i].text for i in np.flatnonzero(held_out)]
    short, short_labels = short_texts(texts, labels[held_out])
    sets = {"validation_reviews": (texts, labels[held_out]), "validation_short": (short, short_labels)}
    if args.test_last_sentences:
        test = list(read_reviews(args.data, split="test"))  # the archive groups reviews by label: sample, seeded
        pick = np.random.default_rng(args.seed).choice(len(test), args.test_last_sentences, replace=False)
        last = []
        for review in (test[i] for i in sorted(pick)):
            sentences = [s for s in split_sentences(review.text) if len(s.split()) >= MIN_WORDS]
            if sentences:
                last.append((sentences[-1], labels_of[review.label]))
        sets["test_last_sentence"] = ([t for t, _ in last], np.array([l for _, l in last], dtype=np.int32))

    results = {"sets": {name: len(texts) for name, (texts, _) in sets.items()}, "bundles": {}, **measured_on()}
    for path, bundle in zip(args.model, bundles):
        classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision="f32")  # the float model
        results["bundles"][path] = {name: round(accuracy(classifier, texts, labels), 4)
                                    for name, (texts, labels) in sets.items()}
        print(path, results["bundles"][path], flush=True)
    write_results(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
