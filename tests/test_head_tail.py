"""head+tail truncation carried all the way: `train --truncation head+tail:H` records it in train_info.json,
`freeze` (told nothing) writes it into bundle.json, and classify, score (with and without Ray) and serve each give
a long review the probabilities of its head+tail word pieces, not those of its head."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("starlette")

from bertvino.cli import main  # noqa: E402
from bertvino.client import Client  # noqa: E402
from bertvino.core.bundle import load_bundle  # noqa: E402
from bertvino.core.features import Truncation, encode  # noqa: E402
from bertvino.infer.classifier import Classifier  # noqa: E402
from bertvino.infer.server import create_app  # noqa: E402

from checkpoints import NEGATIVE_WORDS, POSITIVE_WORDS  # noqa: E402
from test_serve import serving  # noqa: E402

MAX_SEQ_LENGTH, HEAD = 16, 4  # a long review keeps its first 4 and its last 10 word pieces
TRUNCATION = f"head+tail:{HEAD}"
# 30 word pieces: praise first, complaints last, so its head and its tail say different things
LONG_REVIEW = " ".join(POSITIVE_WORDS * 3 + ["the", "movie", "was"] + NEGATIVE_WORDS * 2)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, pretrained_checkpoint, reviews_dir) -> Path:
    """A bundle trained with head+tail truncation (enough to tell praise from complaints), frozen without a
    --truncation, converted."""
    root = tmp_path_factory.mktemp("head-tail")
    folder = Path(pretrained_checkpoint).parent
    assert main(["train", "--data", str(reviews_dir), "--bert_config_file", str(folder / "bert_config.json"),
                 "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                 "--output_dir", str(root / "run"), "--max_seq_length", str(MAX_SEQ_LENGTH), "--truncation",
                 TRUNCATION, "--train_batch_size", "8", "--learning_rate", "1e-3", "--num_train_epochs", "4"]) == 0
    assert json.loads((root / "run" / "train_info.json").read_text())["truncation"] == TRUNCATION
    assert main(["freeze", "--checkpoint", str(root / "run"), "-o", str(root / "bundle")]) == 0
    assert main(["convert", str(root / "bundle")]) == 0
    return root / "bundle"


@pytest.fixture(scope="module")
def expected(bundle) -> dict:
    """{label: probability} of LONG_REVIEW's head+tail ids, run on the IR directly; checked to differ from what
    its head alone gives, so that a test passing cannot mean the truncation was lost."""
    classifier = Classifier(load_bundle(bundle), precision="f32")
    tokenizer, labels = classifier.tokenizer, classifier.bundle.labels

    def probabilities(truncation):
        ids = encode(tokenizer, LONG_REVIEW, MAX_SEQ_LENGTH, truncation)
        return dict(zip(labels, classifier.probabilities(classifier.pooled([ids]))[0].tolist()))

    head_tail, head = probabilities(Truncation(head_tokens=HEAD)), probabilities(Truncation())
    assert len(encode(tokenizer, LONG_REVIEW, 512)) > MAX_SEQ_LENGTH  # it is truncated
    assert max(abs(head_tail[label] - head[label]) for label in labels) > 1e-3
    return head_tail


def test_bundle_records_the_truncation_it_was_trained_with(bundle):
    metadata = load_bundle(bundle).metadata
    assert (metadata["truncation"], metadata["max_seq_length"]) == (TRUNCATION, MAX_SEQ_LENGTH)


def test_classify_truncates_head_and_tail(bundle, expected, capsys):
    assert main(["classify", "-m", str(bundle), "--precision", "f32", "--json", LONG_REVIEW]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["probabilities"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("on_ray", [False, True], ids=["score", "score --ray"])
def test_score_truncates_head_and_tail(bundle, expected, tmp_path, on_ray):
    if on_ray:
        pytest.importorskip("ray")  # its workers tokenize with their own copy of the bundle's settings
    (tmp_path / "reviews" / "pos").mkdir(parents=True)
    (tmp_path / "reviews" / "pos" / "0_9.txt").write_text(LONG_REVIEW)
    out = tmp_path / "rows.jsonl"
    assert main(["score", str(tmp_path / "reviews"), "-m", str(bundle), "--precision", "f32", "-o", str(out),
                 "--no-progress", *(["--ray", "local", "--ray-cpus", "2"] if on_ray else [])]) == 0
    row = json.loads(out.read_text())
    assert {label: row[f"p_{label}"] for label in expected} == pytest.approx(expected, abs=1e-5)


def test_serve_truncates_head_and_tail(bundle, expected):
    classifier = Classifier(load_bundle(bundle), performance_hint="THROUGHPUT", precision="f32")
    with serving(create_app(classifier, "long")) as port:
        answer = Client(port=port).classify([LONG_REVIEW])[0]
    assert np.allclose([answer["probabilities"][label] for label in expected], list(expected.values()), atol=1e-5)
