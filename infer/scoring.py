"""Batch scoring: review files in, one row per review out, as fast as the CPU allows, and safe to kill.

    reviews (streamed) -> window of W reviews, tokenized in one call and sorted by length -> batches padded to
        their longest -> AsyncInferQueue (several batches in flight while the next window is read) -> rows, flushed

Memory stays constant: only one window of encoded reviews (plus the batches in flight) is held at a time.
Sorting a window by length puts reviews of similar length together, so a batch is padded to its own longest
review, not to max_seq_length; the rows therefore come out in a different order from the input, each naming its
`source`. A row is flushed as soon as its batch finishes; `--resume` reads the rows already written (dropping a
torn last line) and scores only the sources not among them, so a killed run, started again, scores every review
exactly once. A write that fails (a full disk) stops the run with an error that says so; the rows before it stay
as they are, and `--resume` finishes the job once there is room.
"""

import csv
import dataclasses
import io
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import EXIT_SKIPPED, BertvinoError, file_error  # noqa: F401  (EXIT_SKIPPED: score's status)
from ..core.features import MAX_BATCH_TOKENS, stepped_length
from ..core.files import cannot_write
from .classifier import AsyncBatches, Classifier
from .metrics import Confusion
from ..core.labels import gold_label
from ..core.reviews import count_reviews, read_reviews

WINDOW_BATCHES = 16  # a window holds this many batches' worth of reviews, sorted by length together


@dataclasses.dataclass
class ScoreSummary:
    scored: int  # reviews scored by this run
    already_done: int  # rows found in the output by --resume
    skipped: list  # (source, reason) of every input that could not be scored
    seconds: float
    metrics: dict | None  # Confusion.report() over every row with a gold label, this run's and earlier ones

    @property
    def reviews_per_s(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0


def score(paths, classifier: Classifier, output=None, resume=False, overwrite=False, batch_size=32, split=None,
          progress=True, max_batch_tokens=MAX_BATCH_TOKENS, on_start=None) -> ScoreSummary:
    """Score every review under `paths` into `output` (.csv or .jsonl; None: CSV on stdout); `split` keeps only
    reviews under a folder of that name (aclImdb's train/ or test/).

    A path that does not exist (or is no kind of review input) is an error before anything is written; a path that
    turns out unreadable while reading, or a single bad review or row, is skipped and reported in the summary. The
    progress bar has a total (and so an ETA) when the inputs are folders, archives or .txt files: counting those
    first is cheap. `on_start()` is called once the output is open, before the first review is read."""
    if batch_size < 1:
        raise BertvinoError("--batch-size must be at least 1")
    skipped, lock = [], threading.Lock()

    def skip(source, reason):
        with lock:
            skipped.append((source, reason))
            bar.update(1)

    check_inputs(paths, split)
    labels = classifier.bundle.labels
    writer = RowWriter(output, labels, resume=resume, overwrite=overwrite)
    if on_start:
        on_start()
    confusion = Confusion(labels)
    for row in writer.existing_rows:
        confusion.add(row.get("gold") or None, row["label"])
    done_sources = {row["source"] for row in writer.existing_rows}
    bar = tqdm(desc="score", unit=" reviews", total=count_reviews(paths, split) if progress else None,
               disable=not progress, dynamic_ncols=True, file=sys.stderr)

    def finished(batch, probabilities, _seconds):  # called from OpenVINO's threads
        predictions = [classifier.prediction(row) for row in probabilities]
        with lock:
            if writer.error:  # nothing more is written after a failed write, so that --resume can trust the file
                return
            writer.write([(source, prediction, gold) for (source, gold), prediction in zip(batch, predictions)])
            for (_, gold), prediction in zip(batch, predictions):
                confusion.add(gold, prediction.label)
            bar.update(len(batch))

    runner = AsyncBatches(classifier, finished)
    started, window = time.perf_counter(), []
    scored = 0
    try:
        for review in _reviews(paths, split, skipped, skip):
            if review.source in done_sources:
                with lock:
                    bar.update(1)
                continue
            window.append((review.source, gold_label(review.label, labels), review.text))
            if len(window) == batch_size * WINDOW_BATCHES:
                if writer.error:
                    break
                scored += _submit(runner, classifier, window, batch_size, max_batch_tokens)
                window = []
        else:
            scored += _submit(runner, classifier, window, batch_size, max_batch_tokens)
    finally:
        runner.wait()  # every batch in flight writes its rows, even when reading failed half-way
        bar.close()
        writer.close()
    if writer.error:
        raise file_error(output, f"cannot write ({writer.error.strerror or writer.error}); the rows already in it "
                                 "are whole: make room and run the same command with --resume to finish")
    seconds = time.perf_counter() - started
    return ScoreSummary(scored=scored, already_done=len(done_sources), skipped=skipped, seconds=seconds,
                        metrics=confusion.report() if confusion.total else None)


def _submit(runner: AsyncBatches, classifier: Classifier, window: list, batch_size: int, max_batch_tokens: int) -> int:
    """Tokenize a window of (source, gold, text) in one call, sort it by length and queue it as batches; returns how
    many reviews were queued."""
    id_lists = classifier.encode_batch([text for _, _, text in window])
    for batch in length_sorted_batches(id_lists, batch_size, max_batch_tokens):
        runner.submit([id_lists[index] for index in batch], [window[index][:2] for index in batch])
    return len(window)


def length_sorted_batches(id_lists: list, batch_size: int, max_tokens: int | None = None) -> list:
    """Indices of a window's encoded reviews, sorted by length (ties in reading order) and cut into batches of at
    most `batch_size` reviews and `max_tokens` tokens as padded (reviews x the longest's length rounded up as
    `AsyncBatches.submit` pads it; a review longer than the budget goes alone): the batches `score` runs, which benchmarks/score_speedup.py replays on the engine
    alone. A budget rather than a count bounds the activations a batch holds, which grow with its tokens."""
    order = sorted(range(len(id_lists)), key=lambda index: (len(id_lists[index]), index))
    batches, batch = [], []
    for index in order:  # ascending lengths: the review being added is the batch's longest
        if batch and (len(batch) == batch_size or
                      (max_tokens is not None and (len(batch) + 1) * stepped_length(len(id_lists[index])) > max_tokens)):
            batches.append(batch)
            batch = []
        batch.append(index)
    return batches + [batch] if batch else batches


def probabilities_in_order(classifier, texts, batch_size: int, progress: str | None = None) -> np.ndarray:
    """[len(texts), labels] probabilities, row i for texts[i], computed synchronously in `length_sorted_batches`
    (for callers that hold the texts in memory: the training teacher, the short-text benchmark). `progress` names
    a tqdm bar over the batches."""
    id_lists = classifier.encode_batch(texts)
    batches = length_sorted_batches(id_lists, batch_size)
    if progress:
        batches = tqdm(batches, desc=progress, unit="batch", dynamic_ncols=True)
    result = np.zeros((len(texts), len(classifier.bundle.labels)), dtype=np.float32)
    for batch in batches:
        result[batch] = classifier.probabilities(classifier.pooled([id_lists[index] for index in batch]))
    return result


def check_inputs(paths, split):
    """Raise for a path that does not exist or is no kind of review input, before anything is written or scored."""
    read_reviews(paths, split=split)  # checks every path when called; reads nothing until iterated


def _reviews(paths, split, skipped, on_skip):
    """Every review of every path; a path that fails part-way (a corrupt archive, a CSV without a text column) is
    reported and skipped, not fatal: the reviews of the other paths are still scored."""
    for path in paths:
        try:
            yield from read_reviews(path, split=split, on_skip=on_skip)
        except BertvinoError as err:
            skipped.append((str(path), str(err).removeprefix(f"{path}: ")))


class RowWriter:
    """Result rows, CSV or JSONL by the file's extension (CSV on stdout without a file), flushed per batch.

    Columns: source, label, p_<label> for each label, gold (empty where the input gives none).
    """

    def __init__(self, path, labels, resume=False, overwrite=False):
        self.labels = labels
        self.columns = ["source", "label", *[f"p_{label}" for label in labels], "gold"]
        self.existing_rows = []
        self.error = None  # the OSError that stopped writing to a file (a full disk), if one did
        if path is None:
            if resume:
                raise BertvinoError("--resume needs -o FILE: it continues the rows already written there")
            self.format, self.file = "csv", sys.stdout
        else:
            path = Path(path)
            self.format = {".csv": "csv", ".jsonl": "jsonl"}.get(path.suffix.lower())
            if self.format is None:
                raise file_error(path, "output must be a .csv or .jsonl file")
            if path.exists() and path.stat().st_size and not (resume or overwrite):
                raise file_error(path, "exists: pass --resume to continue it, or --overwrite to start again")
            if resume and path.exists():
                self.existing_rows = self._read_existing(path)
            try:  # unbuffered bytes: a failed write can leave at most one torn line, which --resume drops
                self.file = open(path, "ab" if resume else "wb", buffering=0)
                if self.format == "csv" and self.file.tell() == 0:
                    self._write_text(_csv_line(self.columns))  # a resumed file keeps the header it has
            except OSError as err:
                raise cannot_write(path, err) from None
        if self.file is sys.stdout and self.format == "csv":
            self._write_text(_csv_line(self.columns))

    def write(self, rows):
        """rows: (source, Prediction, gold) triples."""
        lines = []
        for source, prediction, gold in rows:
            values = [source, prediction.label, *[prediction.probabilities[label] for label in self.labels],
                      gold or ""]
            if self.format == "csv":
                lines.append(_csv_line([*values[:2], *(f"{p:.6f}" for p in values[2:-1]), values[-1]]))
            else:
                lines.append(json.dumps(dict(zip(self.columns, values)), ensure_ascii=False) + "\n")
        if self.file is sys.stdout:
            self._write_text("".join(lines))
        else:
            try:
                self._write_text("".join(lines))
            except OSError as err:
                self.error = err

    def _write_text(self, text):
        if self.file is sys.stdout:
            self.file.write(text)
            self.file.flush()
            return
        data = memoryview(text.encode("utf-8"))
        while data:  # an unbuffered write may write less than asked: near a full disk, say
            data = data[self.file.write(data):]

    def close(self):
        if self.file is not sys.stdout:
            self.file.close()

    def _read_existing(self, path: Path) -> list:
        """The complete rows of an earlier run; a torn last line (killed mid-write) is cut off the file."""
        with open(path, "rb+") as file:
            data = file.read()
            complete = data[:data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                file.truncate(len(complete))
        try:
            text = complete.decode("utf-8")
        except UnicodeDecodeError:
            raise file_error(path, "is not a bertvino results file (not UTF-8); cannot resume it") from None
        if not text:
            return []
        if self.format == "jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            if rows and list(rows[0]) != self.columns:
                raise file_error(path, f"has columns {list(rows[0])}, this model writes {self.columns}; "
                                       "cannot resume it with another model")
            return rows
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames != self.columns:
            raise file_error(path, f"has columns {reader.fieldnames}, this model writes {self.columns}; "
                                   "cannot resume it with another model")
        return list(reader)


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()

