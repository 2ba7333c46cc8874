"""The validation sets carved from training data: which reviews are held out, and their short-text version.

Kept apart from the training loop (and free of TensorFlow) so that a benchmark can rebuild exactly the split a run
validated on, and measure a bundle on it through OpenVINO.
"""

import numpy as np

from .snippets import first_and_last_sentences


def held_out_mask(labels: np.ndarray, num_labels: int, fraction: float, seed: int) -> np.ndarray:
    """True for the reviews to validate on: `fraction` of each label, chosen by `seed` (stratified)."""
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(labels), dtype=bool)
    for label in range(num_labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out[members[:round(len(members) * fraction)]] = True
    return held_out


def short_texts(texts, labels) -> tuple[list, np.ndarray]:
    """The short-text validation set: the first and last sentence of each review, labelled by the review."""
    short, short_labels = [], []
    for text, label in zip(texts, labels):
        pieces = first_and_last_sentences(text)
        short.extend(pieces)
        short_labels.extend([label] * len(pieces))
    return short, np.array(short_labels, dtype=np.int32)
