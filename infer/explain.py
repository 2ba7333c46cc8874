"""Which words decided a prediction: occlusion through the same IR, every variant of a text in one batch.

For a text, the model sees [CLS] word pieces [SEP]. A *word* is a run of characters between whitespace and
punctuation (BERT's own word boundaries, so each CJK ideograph is a word of its own); punctuation is kept in every
variant and gets no score. For each word the model sees, one variant of the text leaves that word out; the
original and all its variants run as ONE batch (a text of n words costs one batched inference of n + 1 rows, not
n + 1 calls). A word's score is

    p(predicted label | text) - p(predicted label | text without the word)

so a positive score is support for the label (removing the word lowers its probability) and a negative one is
evidence against it. Scores are in probability, comparable across words and texts.

How a word is "left out" (`METHODS`):
    delete  its word pieces are removed (the default: see docs/explain.md for the deletion test that chose it)
    mask    each of its word pieces becomes [MASK] (positions are kept)
    pad     each of its word pieces becomes [PAD] (positions are kept)

Integrated gradients are not offered: they need the gradient of the output with respect to the input embeddings,
and an OpenVINO IR is a forward graph only (no gradient ops, no training mode); finite differences along the path
would cost (steps x embedding size) inferences per text and still be approximate.

Truncation: a long text is cut as `classify` cuts it (the bundle's head or head+tail), and only the word pieces
kept are varied: a word the model never sees gets the score None. A variant removes pieces from the kept sequence
and never pulls in pieces that truncation dropped, so each score measures what the model actually read.

OpenVINO and NumPy only, like the rest of infer/.
"""

import dataclasses
import unicodedata

import numpy as np

from ..core.errors import BertvinoError
from ..core.features import CLS_TOKEN, SEP_TOKEN
from ..core.tokenization import _is_chinese_char, _is_punctuation, _is_whitespace
from .classifier import Prediction

METHODS = ("delete", "mask", "pad")
DEFAULT_METHOD = "delete"
_REPLACEMENT = {"mask": "[MASK]", "pad": "[PAD]"}


@dataclasses.dataclass(frozen=True)
class Word:
    text: str  # text[start:end] of the original text
    start: int  # character span [start, end) in the original text
    end: int
    score: float | None  # p(label) - p(label without this word); None: truncated away, never seen by the model

    def as_dict(self) -> dict:
        return {"word": self.text, "start": self.start, "end": self.end,
                "score": None if self.score is None else round(self.score, 6)}


@dataclasses.dataclass(frozen=True)
class Explanation:
    text: str
    prediction: Prediction  # of the whole text, as `classify` gives it
    words: list  # [Word] in text order
    method: str

    def top(self, count: int) -> list:
        """The `count` words that support the predicted label most (largest scores), best first."""
        scored = [word for word in self.words if word.score is not None]
        return sorted(scored, key=lambda word: -word.score)[:count]


@dataclasses.dataclass(frozen=True)
class Occlusion:
    """The batch that explains one text: `id_lists[0]` is the text as the model sees it, `id_lists[1 + i]` the text
    without word `varied[i]`."""

    text: str
    spans: list  # (start, end) of every word, in text order
    varied: list  # index into spans of each variant's word (the words the model sees)
    id_lists: list

    def explanation(self, probabilities: np.ndarray, labels, method: str) -> Explanation:
        """From the batch's probabilities [1 + len(varied), labels] (row 0: the original text)."""
        if len(probabilities) != len(self.id_lists):
            raise ValueError(f"{len(probabilities)} rows of probabilities for {len(self.id_lists)} variants")
        label_index = int(np.argmax(probabilities[0]))
        scores = [None] * len(self.spans)
        for row, word in enumerate(self.varied, start=1):
            scores[word] = float(probabilities[0, label_index] - probabilities[row, label_index])
        prediction = Prediction(label=labels[label_index],
                                probabilities={label: float(p) for label, p in zip(labels, probabilities[0])})
        words = [Word(self.text[start:end], start, end, score) for (start, end), score in zip(self.spans, scores)]
        return Explanation(self.text, prediction, words, method)


def word_spans(text: str) -> list:
    """(start, end) of every word: runs of characters that are neither whitespace nor punctuation, each CJK
    ideograph on its own, as BERT's basic tokenizer splits (control characters stay inside their word)."""
    spans, start = [], None
    for index, char in enumerate(text):
        breaks = _is_whitespace(char) or _is_punctuation(char)
        alone = _is_chinese_char(ord(char))
        if start is not None and (breaks or alone):
            spans.append((start, index))
            start = None
        if alone:
            spans.append((index, index + 1))
        elif not breaks and start is None:
            start = index
    if start is not None:
        spans.append((start, len(text)))
    return spans


def occlusions(classifier, texts, method: str = DEFAULT_METHOD) -> list:
    """One `Occlusion` per text. Every word and every gap between words is tokenized in one call; their pieces,
    joined, are the text's pieces (BERT splits at the same boundaries), and each word knows which ones are its."""
    if method not in METHODS:
        raise BertvinoError(f"unknown explanation method {method!r}: choose one of {', '.join(METHODS)}")
    vocab = classifier.tokenizer.vocab
    replacement = _REPLACEMENT.get(method)
    if replacement is not None and replacement not in vocab:
        raise BertvinoError(f"--explain-method {method}: this model's vocab.txt has no {replacement} token")
    texts = list(texts)
    span_lists = [word_spans(text) for text in texts]
    segment_lists = [_segments(text, spans) for text, spans in zip(texts, span_lists)]
    pieces = iter(classifier.tokenizer.piece_ids([s for segments in segment_lists for s, _ in segments]))
    bundle = classifier.bundle
    result = []
    for text, spans, segments in zip(texts, span_lists, segment_lists):
        ids, owner = [], []  # every word piece of the text, and the index of the word it belongs to (None: a gap)
        for _, word in segments:
            segment_ids = next(pieces)
            ids += segment_ids
            owner += [word] * len(segment_ids)
        kept = classifier.truncation.keep(list(range(len(ids))), bundle.max_seq_length)
        kept_ids, kept_owner = [ids[p] for p in kept], [owner[p] for p in kept]
        varied = sorted({word for word in kept_owner if word is not None})
        id_lists = [_framed(vocab, kept_ids)]
        for word in varied:
            if replacement is None:
                variant = [i for i, o in zip(kept_ids, kept_owner) if o != word]
            else:
                variant = [vocab[replacement] if o == word else i for i, o in zip(kept_ids, kept_owner)]
            id_lists.append(_framed(vocab, variant))
        result.append(Occlusion(text, spans, varied, id_lists))
    return result


def explain(classifier, texts, method: str = DEFAULT_METHOD) -> list:
    """[Explanation] for `texts`: one batched inference per text (its original and all its variants)."""
    labels = classifier.bundle.labels
    return [occlusion.explanation(classifier.probabilities(classifier.pooled(occlusion.id_lists)), labels, method)
            for occlusion in occlusions(classifier, texts, method)]


def _segments(text: str, spans) -> list:
    """The text cut into (segment, word index or None for the gaps between words), covering all of it."""
    segments, position = [], 0
    for index, (start, end) in enumerate(spans):
        if start > position:
            segments.append((text[position:start], None))
        segments.append((text[start:end], index))
        position = end
    if position < len(text):
        segments.append((text[position:], None))
    return segments


def _framed(vocab, ids) -> list:
    return [vocab[CLS_TOKEN], *ids, vocab[SEP_TOKEN]]


# --- showing an explanation ----------------------------------------------------------------------------------------

def score_text(score: float) -> str:
    """"+0.12"; a score that two decimals would show as 0.00 keeps its size: "-3e-04" (a confident model's
    probability hardly moves for most words)."""
    return f"{score:+.2f}" if abs(score) >= 0.005 or score == 0 else f"{score:+.0e}"


def annotated(explanation: Explanation) -> str:
    """The text with each scored word followed by its score: "Terrible(-0.31) acting(+0.02), but ..." (for
    output that is not a terminal)."""
    return _rewrite(explanation, lambda word, score: f"{word}({score_text(score)})")


def coloured(explanation: Explanation) -> str:
    """The text for a terminal: words that support the label in green, those against it in red, bold when strong
    (at least half the largest score), dim when weak (under a tenth of it); unscored words as they are."""
    largest = max((abs(w.score) for w in explanation.words if w.score is not None), default=0.0) or 1.0

    def colour(word, score):
        strength = abs(score) / largest
        if strength < 0.1:
            return f"\x1b[2m{word}\x1b[0m"
        style = ("1;" if strength >= 0.5 else "") + ("32" if score > 0 else "31")
        return f"\x1b[{style}m{word}\x1b[0m"
    return _rewrite(explanation, colour)


def top_words(explanation: Explanation, count: int = 5) -> str:
    """The `count` words that support the label most, for a CSV cell: "wonderful(+0.41) moving(+0.12)"."""
    return " ".join(f"{word.text}({score_text(word.score)})" for word in explanation.top(count))


def _rewrite(explanation: Explanation, show) -> str:
    text, parts, position = _printable(explanation.text), [], 0
    for word in explanation.words:
        parts.append(text[position:word.start])
        parts.append(text[word.start:word.end] if word.score is None else show(text[word.start:word.end],
                                                                                 word.score))
        position = word.end
    parts.append(text[position:])
    return "".join(parts)


def _printable(text: str) -> str:
    """Characters a terminal would act on (controls, format characters such as bidi overrides) and line breaks
    shown as spaces, one for one, so that the spans still index the result and one text stays on one line."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
