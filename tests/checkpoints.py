"""Tiny random BERT checkpoints in Google's two layouts (`bertvino.train.random_checkpoint` at a tiny size, over a
vocabulary of review words), and tiny review data, made by the tests themselves."""

import os
import re
from pathlib import Path

import numpy as np

from bertvino.train import random_checkpoint

POSITIVE_WORDS = ["good", "great", "wonderful", "brilliant", "loved", "superb"]
NEGATIVE_WORDS = ["bad", "awful", "terrible", "boring", "hated", "dull"]
OTHER_WORDS = ["the", "a", "movie", "film", "was", "is", "and", "it", "plot", "acting", "this", "very", "un",
               "##s", "##ing", "##ly", ".", ",", "!", "?", "'"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + POSITIVE_WORDS + NEGATIVE_WORDS + OTHER_WORDS

TINY_CONFIG = {
    "vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def write_model_files(directory: Path, config: dict = TINY_CONFIG, vocab=VOCAB):
    random_checkpoint.write_model_files(directory, config, vocab)


def make_pretrained(directory: Path, config: dict = TINY_CONFIG, seed: int = 0, scale: float = 0.1) -> str:
    """A tiny checkpoint shaped like Google's released `bert_model.ckpt`; returns its prefix."""
    return random_checkpoint.make_pretrained(directory, config, VOCAB, seed=seed, scale=scale)


def make_finetuned(directory: Path, config: dict = TINY_CONFIG, num_labels: int = 2, step: int = 7,
                   seed: int = 1, head_scale: float = 1.0) -> str:
    """A tiny checkpoint shaped like run_classifier.py's `model.ckpt-N`; returns its prefix."""
    return random_checkpoint.make_finetuned(directory, config, VOCAB, num_labels=num_labels, step=step, seed=seed,
                                            head_scale=head_scale)


def make_reviews(directory: Path, per_label: int = 20, seed: int = 0) -> Path:
    """An aclImdb-like folder (pos/ and neg/) of short reviews that a tiny model separates in a few steps: the
    sentiment words vary in number and position, so it must learn the words, not where they stand."""
    rng = np.random.default_rng(seed)
    filler = ["the", "movie", "was", "and", "it", "plot", "acting", "this", "very", "film", "is"]
    for label, words in (("pos", POSITIVE_WORDS), ("neg", NEGATIVE_WORDS)):
        (directory / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            before = list(rng.choice(filler, rng.integers(0, 5)))
            after = list(rng.choice(filler, rng.integers(0, 5)))
            text = " ".join(before + list(rng.choice(words, rng.integers(1, 4))) + after) + " ."
            rating = 9 if label == "pos" else 2
            (directory / label / f"{i}_{rating}.txt").write_text(text + "<br /><br />", encoding="utf-8")
    return directory


# A line TensorFlow itself logs: absl's pre-init notice, absl-format C++ lines (I0000 00:00:...), TF's older
# "2024-01-01 ...: I tensorflow/..." format, its Python logger, deprecation notices, the oneDNN banner.
TENSORFLOW_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:|\d{4}-\d\d-\d\d [\d:.]+: "
                                 r"[IWEF] |WARNING:tensorflow|INFO:tensorflow|Instructions for updating)"
                                 r"|oneDNN custom operations|is deprecated|cpu_feature_guard", re.MULTILINE)


def bertvino_process_env() -> dict:
    """The environment a user's shell gives `bertvino`: none of the test run's TensorFlow log settings."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_many_reviews(directory: Path, count: int = 3000) -> Path:
    """`directory/many/pos/` with `count` short random-word reviews: enough work that a run can be killed mid-way."""
    folder = directory / "many" / "pos"
    folder.mkdir(parents=True)
    words = ["good", "bad", "the", "movie", "dull", "great", "plot", "acting"]
    rng = np.random.default_rng(0)
    for i in range(count):
        (folder / f"{i}_8.txt").write_text(" ".join(rng.choice(words, rng.integers(1, 20))))
    return directory / "many"
