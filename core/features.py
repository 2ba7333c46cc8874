"""Text -> BERT model inputs, as google-research/bert's `run_classifier.convert_single_example` builds them.

A single text becomes `[CLS] word pieces [SEP]` with every segment id 0 and an input mask of 1 over the
real tokens. Google always truncates from the end (keeps the head). `Truncation` also offers head+tail,
which keeps the start and the end of a long text and drops its middle; Sun et al. (2019), "How to
Fine-Tune BERT for Text Classification?", found that works best for long documents (their 128+382).

`Windows` reads a long text whole instead, at inference only: overlapping windows of max_seq_length, each run as
a row of the batch, whose pooled outputs are averaged (the head is linear, so that is the mean of their logits).
`SecondLook` reads every text as truncated first and reads whole only the long ones that first read left unsure:
most of the gain of windows for a fraction of their time (docs/calibration.md measures both).
A bundle says which in bundle.json: `truncation` (as trained) and, optionally, `long_texts` ("windows:S" or
"windows:S,below:P").

Unlike Google's code, `encode` does not pad: `pad_batch` pads a whole batch to a common length, which
can be shorter than `max_seq_length` when every text in the batch is short.
"""

import re
from dataclasses import dataclass

import numpy as np

from .bundle import INPUT_NAMES
from .errors import BertvinoError

# The two tokens around every text, so a text keeps at most max_seq_length - 2 word pieces.
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
SPECIAL_TOKENS_PER_TEXT = 2

# [PAD] is the first line of Google's vocab files, and padding positions are masked out anyway.
DEFAULT_PAD_ID = 0
# The most tokens (padding included: texts x the padded length) `score` puts in one batch: the activations a batch
# holds grow with its tokens, not its texts, so 32 long reviews would hold 32x what 32 snippets hold.
MAX_BATCH_TOKENS = 2048
# `score` pads a batch up to a multiple of LENGTH_STEP tokens. OpenVINO's CPU plugin keeps kernels and buffers for
# every input shape it has run, so a window's hundreds of distinct lengths grew `score` to 500-660 MB; rounded up
# to 32, a 256-token model sees at most 8 lengths (see docs/precision-and-speed.md for the measurements).
LENGTH_STEP = 32

_HEAD_TAIL_SPEC = re.compile(r"head\+tail:([0-9]+)")
_WINDOWS_SPEC = re.compile(r"windows:([0-9]+)")
_SECOND_LOOK_SPEC = re.compile(r"(windows:[0-9]+),below:([0-9.]+)")


@dataclass(frozen=True)
class Truncation:
    """Which word pieces a text keeps when it has more than fit.

    `head_tokens=None` keeps the first max_seq_length - 2 pieces, as Google does. An int H keeps the
    first H and the last max_seq_length - 2 - H pieces (H = 0 keeps only the tail).

    Written as "head" or "head+tail:H" on the command line and in JSON; see `from_string` and `str()`.
    """

    head_tokens: int | None = None

    def __post_init__(self):
        if self.head_tokens is None:
            return
        is_count = isinstance(self.head_tokens, int) and not isinstance(self.head_tokens, bool)
        if not is_count or self.head_tokens < 0:
            raise BertvinoError(
                f"head+tail truncation needs a whole number of head tokens >= 0, not {self.head_tokens!r}"
            )

    @classmethod
    def from_string(cls, spec: str) -> "Truncation":
        """Parses "head" or "head+tail:H" (e.g. "head+tail:128"), the form `str()` gives back."""
        if spec == "head":
            return cls()
        match = _HEAD_TAIL_SPEC.fullmatch(spec) if isinstance(spec, str) else None
        if match is None:
            raise BertvinoError(f"bad truncation {spec!r}: expected 'head' or 'head+tail:H', e.g. 'head+tail:128'")
        return cls(head_tokens=int(match.group(1)))

    def __str__(self) -> str:
        return "head" if self.head_tokens is None else f"head+tail:{self.head_tokens}"

    def keep(self, tokens: list, max_seq_length: int) -> list:
        """The tokens that fit in `max_seq_length` next to [CLS] and [SEP], in their original order.

        Raises `BertvinoError` if the head alone is longer than that room (max_seq_length - 2).
        """
        budget = max_seq_length - SPECIAL_TOKENS_PER_TEXT
        if self.head_tokens is not None and self.head_tokens > budget:
            raise BertvinoError(
                f"truncation {self}: {self.head_tokens} head tokens do not fit in max_seq_length {max_seq_length} "
                f"(at most {budget}, as [CLS] and [SEP] take 2)"
            )
        if len(tokens) <= budget:
            return list(tokens)
        if self.head_tokens is None:
            return tokens[:budget]
        tail_tokens = budget - self.head_tokens
        # Not tokens[-tail_tokens:]: for tail_tokens == 0 that would be the whole list.
        return tokens[: self.head_tokens] + tokens[len(tokens) - tail_tokens :]

    def rows(self, id_lists, max_seq_length: int):
        """The model's rows for a batch of encoded texts, and which text each belongs to (None: one row each)."""
        return id_lists, None

    def merge(self, pooled, owners):
        """Per-text pooled outputs from the rows' (here: the same)."""
        return pooled


@dataclass(frozen=True)
class Windows:
    """Long texts read whole: a text longer than max_seq_length becomes windows of max_seq_length - 2 word pieces
    (each between [CLS] and [SEP]) starting every `stride` pieces, the last one ending at the text's end; the
    model's pooled outputs of a text's windows are averaged. Written "windows:S" in bundle.json's `long_texts`."""

    stride: int

    def __post_init__(self):
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise BertvinoError(f"windows need a stride of at least 1 word piece, not {self.stride!r}")

    @classmethod
    def from_string(cls, spec: str) -> "Windows":
        match = _WINDOWS_SPEC.fullmatch(spec) if isinstance(spec, str) else None
        if match is None:
            raise BertvinoError(f"bad long_texts {spec!r}: expected 'truncate', 'windows:S' or 'windows:S,below:P', "
                                "e.g. 'windows:128'")
        return cls(stride=int(match.group(1)))

    def __str__(self) -> str:
        return f"windows:{self.stride}"

    def check(self, max_seq_length: int) -> int:
        """The pieces a window holds; raises `BertvinoError` if the stride would skip pieces between windows."""
        budget = max_seq_length - SPECIAL_TOKENS_PER_TEXT
        if self.stride > budget:
            raise BertvinoError(f"long_texts {self}: a stride over {budget} word pieces would skip text between "
                                f"windows of max_seq_length {max_seq_length}")
        return budget

    def keep(self, tokens: list, max_seq_length: int) -> list:
        """Every token: `rows` cuts them into windows."""
        return list(tokens)

    def rows(self, id_lists, max_seq_length: int):
        """Each text's windows as rows ([CLS] pieces [SEP], at most max_seq_length) and each row's text index."""
        budget = self.check(max_seq_length)
        rows, owners = [], []
        for owner, ids in enumerate(id_lists):
            if len(ids) <= max_seq_length:
                rows.append(ids)
                owners.append(owner)
                continue
            pieces, cls_id, sep_id = ids[1:-1], ids[0], ids[-1]
            last = len(pieces) - budget
            for start in [*range(0, last, self.stride), last]:
                rows.append([cls_id, *pieces[start:start + budget], sep_id])
                owners.append(owner)
        return rows, np.asarray(owners)

    def merge(self, pooled, owners):
        """The mean of each text's rows, [texts, hidden]."""
        texts = int(owners[-1]) + 1 if len(owners) else 0
        sums = np.zeros((texts, pooled.shape[1]), dtype=np.float64)
        np.add.at(sums, owners, pooled)
        return (sums / np.bincount(owners, minlength=texts)[:, None]).astype(pooled.dtype)


@dataclass(frozen=True)
class SecondLook:
    """Long texts read whole when the truncated read is unsure: every text is read as `first` truncates it (one row,
    as trained); a text longer than max_seq_length whose first read's top probability (the model's own, before
    calibration) is below `below` is then read again as `windows`, and its pooled output becomes the mean of the
    first read's and the windows'. Written "windows:S,below:P" in bundle.json's `long_texts`.

    Two steps, so the classifier drives them: `rows`/`merge` give the first read, `second_rows`/`merge_second` the
    second, for the texts the classifier found unsure."""

    first: Truncation
    windows: Windows
    below: float

    def __post_init__(self):
        if isinstance(self.below, bool) or not isinstance(self.below, (int, float)) or not 0 < self.below <= 1:
            raise BertvinoError(f"long_texts {self}: 'below' must be a probability in (0, 1], not {self.below!r}")

    @classmethod
    def from_string(cls, spec: str, truncation: str) -> "SecondLook":
        match = _SECOND_LOOK_SPEC.fullmatch(spec)
        try:
            below = float(match.group(2)) if match else None
        except ValueError:
            below = None
        if below is None:
            raise BertvinoError(f"bad long_texts {spec!r}: expected 'truncate', 'windows:S' or 'windows:S,below:P', "
                                "e.g. 'windows:254,below:0.98'")
        return cls(Truncation.from_string(truncation), Windows.from_string(match.group(1)), below)

    def __str__(self) -> str:
        return f"{self.windows},below:{self.below:g}"

    def check(self, max_seq_length: int) -> int:
        return self.windows.check(max_seq_length)

    def keep(self, tokens: list, max_seq_length: int) -> list:
        """Every token: `rows` truncates them for the first read, `second_rows` cuts them into windows."""
        return list(tokens)

    def rows(self, id_lists, max_seq_length: int):
        """The first read: each text truncated as `first` says, one row each."""
        return [ids if len(ids) <= max_seq_length else [ids[0], *self.first.keep(ids[1:-1], max_seq_length), ids[-1]]
                for ids in id_lists], None

    def merge(self, pooled, owners):
        return pooled

    def unsure(self, id_lists, top_probabilities, max_seq_length: int) -> list:
        """Indices of the texts to read again: longer than max_seq_length, and the first read's top probability
        below `below`."""
        return [index for index, (ids, top) in enumerate(zip(id_lists, top_probabilities))
                if len(ids) > max_seq_length and top < self.below]

    def second_rows(self, id_lists, max_seq_length: int):
        """The second read of the unsure texts: their windows as rows, and each row's text (an index into
        `id_lists`)."""
        return self.windows.rows(id_lists, max_seq_length)

    def merge_second(self, first_pooled, window_pooled, owners):
        """[texts, hidden]: the mean of each text's first read and its windows (the head is linear: the mean of
        their logits)."""
        texts = len(first_pooled)
        sums = first_pooled.astype(np.float64)
        np.add.at(sums, owners, window_pooled)
        return (sums / (1 + np.bincount(owners, minlength=texts))[:, None]).astype(first_pooled.dtype)


def reading(truncation: str, long_texts: str = "truncate", max_seq_length: int | None = None):
    """How the model reads a text longer than max_seq_length: `Windows` for long_texts "windows:S", `SecondLook`
    for "windows:S,below:P" (either checked against `max_seq_length` when given), else the bundle's
    `Truncation`."""
    if long_texts == "truncate":
        return Truncation.from_string(truncation)
    if isinstance(long_texts, str) and ",below:" in long_texts:
        how = SecondLook.from_string(long_texts, truncation)
    else:
        how = Windows.from_string(long_texts)
    if max_seq_length is not None:
        how.check(max_seq_length)
    return how


def check_max_seq_length(max_seq_length: int) -> None:
    """Raises `BertvinoError` unless there is room for [CLS], [SEP] and at least one word piece."""
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 3:
        raise BertvinoError(f"max_seq_length must be a whole number >= 3, got {max_seq_length!r}")


def encode(tokenizer, text: str, max_seq_length: int, truncation: Truncation = Truncation()) -> list[int]:
    """Token ids of `[CLS] word pieces [SEP]` for one text, truncated to fit, not padded.

    Args:
      tokenizer: a `bertvino.core.tokenization.FullTokenizer` or `bertvino.core.fast_tokenization.FastTokenizer`
        (anything with `vocab` and `piece_ids`).
      text: the text to classify.
      max_seq_length: the longest sequence the model will be given, [CLS] and [SEP] included.
      truncation: which word pieces to keep when there are more than max_seq_length - 2.

    Returns:
      list of ints of length [seq_length], seq_length <= max_seq_length; the first is the id of [CLS]
      and the last the id of [SEP].
    """
    return encode_batch(tokenizer, [text], max_seq_length, truncation)[0]


def encode_batch(tokenizer, texts, max_seq_length: int, truncation: Truncation = Truncation()) -> list[list[int]]:
    """`encode` of each text, tokenized in one call so a compiled tokenizer does the whole batch at once."""
    check_max_seq_length(max_seq_length)
    cls_id, sep_id = tokenizer.vocab[CLS_TOKEN], tokenizer.vocab[SEP_TOKEN]
    return [[cls_id, *truncation.keep(ids, max_seq_length), sep_id] for ids in tokenizer.piece_ids(texts)]


def stepped_length(length: int, max_seq_length: int | None = None) -> int:
    """`length` rounded up to a multiple of LENGTH_STEP, but never past max_seq_length (nor below `length`)."""
    stepped = -(-length // LENGTH_STEP) * LENGTH_STEP
    return max(length, min(stepped, max_seq_length)) if max_seq_length else stepped


def pad_batch(id_lists, pad_to: int | None = None, pad_id: int = DEFAULT_PAD_ID) -> dict[str, np.ndarray]:
    """Pads the `encode` outputs of a batch into the three input arrays of a BERT model.

    Args:
      id_lists: sequence of [batch_size] lists of token ids, each from `encode`.
      pad_to: seq_length of the result; None means the length of the longest list.
      pad_id: token id written into padding positions ([PAD] is 0 in Google's vocabs).

    Returns:
      dict with int32 arrays of shape [batch_size, seq_length], keyed by the model's `INPUT_NAMES`:
        "input_ids": the token ids, then `pad_id`.
        "input_mask": 1 over real tokens, 0 over padding.
        "segment_ids": all 0 (single-text input is all segment A).

    Raises:
      ValueError: a list is longer than `pad_to` (a bug in the caller: `encode` truncates).
    """
    id_lists = list(id_lists)
    lengths = [len(ids) for ids in id_lists]
    seq_length = pad_to if pad_to is not None else max(lengths, default=0)
    if any(length > seq_length for length in lengths):
        raise ValueError(f"pad_batch: a sequence of length {max(lengths)} does not fit pad_to={seq_length}")

    input_ids = np.full((len(lengths), seq_length), pad_id, dtype=np.int32)
    input_mask = np.zeros((len(lengths), seq_length), dtype=np.int32)
    for row, ids in enumerate(id_lists):
        input_ids[row, : len(ids)] = ids
        input_mask[row, : len(ids)] = 1
    segment_ids = np.zeros((len(lengths), seq_length), dtype=np.int32)
    return dict(zip(INPUT_NAMES, (input_ids, input_mask, segment_ids)))
