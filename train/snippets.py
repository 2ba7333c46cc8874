"""Short texts cut from long reviews, so a model trained on whole reviews also learns to judge a sentence or two.

People type one or two sentences into `bertvino classify`; IMDB reviews average 230 words. A model that only ever
saw whole reviews is weak on short text, so training can add *snippets*: 1-3 consecutive sentences cut from each
training review. A snippet inherits its review's label, which is often wrong ("I saw it on a Tuesday." in a
negative review), so a *teacher* (a bundle, run through OpenVINO) can help, in one of two ways: *filter* keeps a
snippet only where the teacher agrees with the review's label with probability >= a threshold (hard labels);
*soft* keeps every snippet and trains it towards a mix of its review's label and the teacher's probabilities at a
temperature, so a sentence the teacher is unsure about teaches the student to be unsure too.

The same sentence splitter gives the short-text validation set: the first and the last sentence of each held-out
review, labelled by its review (noisy, but the same noise for every run it compares).

    review text -> split_sentences -> cut_snippets (seeded) -> [teacher_keeps | teacher_probabilities]
        -> extra training examples
"""

import re

import numpy as np

# A sentence ends at . ! or ? (possibly repeated, possibly followed by a closing quote or bracket) and whitespace.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+")

MIN_WORDS = 4  # shorter pieces ("Wow.", "10/10.") carry too little to learn from or to validate on
MAX_SENTENCES = 3


def split_sentences(text: str) -> list[str]:
    """The review's sentences, stripped, empty pieces dropped. A plain rule, not a parser: good enough to cut
    training snippets, and deterministic."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


def cut_snippets(text: str, count: int, rng: np.random.Generator, max_sentences: int = MAX_SENTENCES) -> list[str]:
    """Up to `count` distinct snippets of 1..max_sentences consecutive sentences with >= MIN_WORDS words each.

    A review of one sentence yields nothing: its snippet would be the review itself, already in training.
    """
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return []
    snippets, tries = [], 0
    while len(snippets) < count and tries < 4 * count:
        tries += 1
        length = int(rng.integers(1, min(max_sentences, len(sentences) - 1) + 1))
        start = int(rng.integers(0, len(sentences) - length + 1))
        snippet = " ".join(sentences[start:start + length])
        if len(snippet.split()) >= MIN_WORDS and snippet not in snippets:
            snippets.append(snippet)
    return snippets


def first_and_last_sentences(text: str) -> list[str]:
    """The short-text validation pieces of one review: its first and its last sentence, if long enough."""
    sentences = [s for s in split_sentences(text) if len(s.split()) >= MIN_WORDS]
    if not sentences:
        return []
    return sentences[:1] if len(sentences) == 1 else [sentences[0], sentences[-1]]


def teacher_keeps(bundle_path, texts: list[str], labels: np.ndarray, label_names, threshold: float,
                  batch_size: int = 64) -> np.ndarray:
    """Boolean mask: the teacher bundle gives `labels[i]` probability >= `threshold` for `texts[i]`."""
    probabilities = teacher_probabilities(bundle_path, texts, label_names, batch_size=batch_size)
    return probabilities[np.arange(len(texts)), labels] >= threshold


def teacher_probabilities(bundle_path, texts: list[str], label_names, temperature: float = 1.0,
                          batch_size: int = 64) -> np.ndarray:
    """[texts, labels]: the teacher bundle's softmax(logits / temperature) for each text.

    The teacher runs through OpenVINO (fast on CPU), sorted by length so batches pad little. Its labels must be
    the training labels, in the same order, or its probabilities would mean something else.
    """
    from ..core.bundle import load_bundle
    from ..core.errors import file_error
    from ..infer.calibration import softmax
    from ..infer.classifier import Classifier
    from ..infer.scoring import logits_in_order

    bundle = load_bundle(bundle_path)
    if tuple(bundle.labels) != tuple(label_names):
        raise file_error(bundle_path, f"teacher's labels {','.join(bundle.labels)} are not the training labels "
                                      f"{','.join(label_names)}")
    # f32, not the per-CPU `auto`: which snippets are kept must not depend on the machine that trains
    classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision="f32")
    # The model's own logits, not its bundle's calibrated ones: --distill_threshold (0.9) was chosen on those, and
    # a calibrated teacher (the default model since issue 19) gives no one-liner 0.9; soft targets set their own
    # --distill_temperature.
    logits, _ = logits_in_order(classifier, texts, batch_size, progress="teacher")
    return softmax(logits.astype(np.float64) / temperature)
