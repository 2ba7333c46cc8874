"""Classify the four sentences of the original OpenVINO BERT sample through a running `bertvino serve`.

    bertvino serve & python samples/classify_over_http.py [--host 127.0.0.1] [--port 8501] [--wait 60]

`bertvino.client.Client` needs only the standard library (no OpenVINO, no NumPy), so this runs anywhere Python
does; it waits for the server to be ready (it may still be loading or warming up the model), asks it which model
it serves, then sends all four sentences in one request.
"""

import argparse
import sys
from pathlib import Path

from bertvino.client import Client, ServiceError

SENTENCES = Path(__file__).with_name("sentences.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the server to be ready")
    args = parser.parse_args()

    sentences = SENTENCES.read_text(encoding="utf-8").splitlines()
    try:
        client = Client(host=args.host, port=args.port, timeout=60, wait=args.wait)
        predictions = client.classify(sentences)
    except ServiceError as err:
        sys.exit(f"classify_over_http: {err}")
    print(f"model {client.model_name!r} at {client.base_url}")
    for sentence, prediction in zip(sentences, predictions):
        probabilities = ", ".join(f"{label} {p:.3f}" for label, p in prediction["probabilities"].items())
        print(f"{prediction['label']:<10} ({probabilities})  {sentence}")


if __name__ == "__main__":
    main()
