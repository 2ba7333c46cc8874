"""N-way classification end to end: a 3-class CSV through train -> freeze -> convert -> classify -> score -> serve,
with the labels taken from the data."""

import csv
import json

import numpy as np
import pytest

from bertvino.core.bundle import load_bundle
from bertvino.cli import main

pytest.importorskip("tensorflow")

FILLER = ["the", "movie", "was", "and", "it", "plot", "acting", "this", "very", "film", "is"]
# Three kinds of sentence, told by their punctuation, which a tiny random model learns in a few steps (sentiment
# words take it longer); not sentiment names, so nothing maps them to negative/positive. Sorted, as `train` orders
# the labels it finds in the data.
CLASSES = {"exclamation": ["!"], "question": ["?"], "statement": ["."]}
LABELS = list(CLASSES)


def write_csv(path, per_label=24, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in CLASSES.items():
        for _ in range(per_label):
            text = " ".join(list(rng.choice(FILLER, rng.integers(2, 7))) + list(rng.choice(words, rng.integers(1, 3))))
            rows.append((text, label))
    rng.shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, pretrained_checkpoint):
    """train (labels from the CSV) -> freeze (labels from train_info.json) -> convert, all through the CLI."""
    from pathlib import Path
    root = tmp_path_factory.mktemp("three")
    data = write_csv(root / "three.csv")
    base = Path(pretrained_checkpoint).parent
    assert main(["train", "--data", str(data), "--bert_config_file", str(base / "bert_config.json"),
                 "--vocab_file", str(base / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                 "--output_dir", str(root / "run"), "--max_seq_length", "32", "--train_batch_size", "8",
                 "--learning_rate", "1e-3", "--num_train_epochs", "20", "--validation_fraction", "0.25",
                 "--save_checkpoints_steps", "1000"]) == 0
    assert main(["freeze", "--checkpoint", str(root / "run"), "-o", str(root / "bundle")]) == 0
    assert main(["convert", str(root / "bundle")]) == 0
    return root, data


def test_train_finds_the_labels_in_the_data_and_learns_them(pipeline):
    root, _ = pipeline
    info = json.loads((root / "run" / "train_info.json").read_text())
    assert info["labels"] == LABELS
    results = dict(line.split(" = ") for line in (root / "run" / "eval_results.txt").read_text().splitlines())
    assert float(results["eval_accuracy"]) >= 0.8  # chance is 1/3


def test_freeze_and_convert_keep_three_labels(pipeline):
    root, _ = pipeline
    bundle = load_bundle(root / "bundle")
    assert bundle.labels == tuple(LABELS)
    weight, bias = bundle.head()
    assert weight.shape == (3, 32) and bias.shape == (3,)


def test_classify_answers_with_three_probabilities(pipeline, capsys):
    root, _ = pipeline
    capsys.readouterr()
    assert main(["classify", "-m", str(root / "bundle"), "--json", "was it the plot ?", "it was the film !",
                 "this is the movie ."]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [answer["label"] for answer in answers] == ["question", "exclamation", "statement"]
    for answer in answers:
        assert list(answer["probabilities"]) == LABELS
        assert abs(sum(answer["probabilities"].values()) - 1) < 1e-5
        assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)


def test_score_reports_per_class_metrics_and_a_3x3_confusion_matrix(pipeline, tmp_path, capsys):
    root, data = pipeline
    assert main(["score", str(data), "-m", str(root / "bundle"), "-o", str(tmp_path / "rows.csv"), "--no-progress",
                 "--metrics-json", str(tmp_path / "metrics.json")]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["reviews_with_gold"] == 72 and metrics["accuracy"] >= 0.8
    assert list(metrics["per_class"]) == LABELS
    matrix = metrics["confusion_matrix"]
    assert matrix["labels"] == LABELS
    assert np.array(matrix["rows_gold_columns_predicted"]).shape == (3, 3)
    with open(tmp_path / "rows.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["source", "label", *[f"p_{label}" for label in LABELS], "gold"]
    assert {row["gold"] for row in rows} == set(LABELS)


def test_serve_answers_with_three_labels(pipeline):
    pytest.importorskip("starlette")
    from bertvino.client import Client
    from bertvino.infer.classifier import Classifier
    from bertvino.infer.server import create_app
    from test_serve import serving

    root, _ = pipeline
    classifier = Classifier(load_bundle(root / "bundle"), performance_hint="THROUGHPUT")
    with serving(create_app(classifier, "three")) as port:
        client = Client(port=port, model_name="three")
        assert client.metadata()["labels"] == LABELS
        (answer,) = client.classify(["is it the film ?"])
    assert answer["label"] == "question" and list(answer["probabilities"]) == LABELS
