"""Classify the four sentences of the original OpenVINO BERT sample with bertvino's Python API.

    python samples/classify_with_python.py [-m BUNDLE]

`Classifier` compiles a bundle's OpenVINO IR once; `predict` takes a list of texts and classifies them together
(WordPiece, the IR up to BERT's pooler, then the NumPy head and a softmax). No TensorFlow is involved.
"""

import argparse
from pathlib import Path

from bertvino.core.bundle import load_bundle
from bertvino.infer.classifier import Classifier
from bertvino.models import find_model

SENTENCES = Path(__file__).with_name("sentences.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")
    args = parser.parse_args()

    classifier = Classifier(load_bundle(find_model(args.model)), device="CPU")
    sentences = SENTENCES.read_text(encoding="utf-8").splitlines()
    for sentence, prediction in zip(sentences, classifier.predict(sentences)):
        probabilities = ", ".join(f"{label} {p:.3f}" for label, p in prediction.probabilities.items())
        print(f"{prediction.label:<10} ({probabilities})  {sentence}")


if __name__ == "__main__":
    main()
