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
import functools
import io
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import BertvinoError, file_error
from ..core.files import cannot_write
from .classifier import AsyncBatches, Classifier
from .explain import occlusions, top_words
from .metrics import Confusion
from ..core.labels import gold_label
from ..core.reviews import count_reviews, read_reviews

TOP_WORDS = 5  # words in score --explain's top_words column
WINDOW_BATCHES = 16  # a window holds this many batches' worth of reviews, sorted by length together
EXIT_SKIPPED = 3  # scoring finished, but some inputs could not be read (each reported on stderr)


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
          progress=True, explain_method=None) -> ScoreSummary:
    """Score every review under `paths` into `output` (.csv or .jsonl; None: CSV on stdout); `split` keeps only
    reviews under a folder of that name (aclImdb's train/ or test/).

    A path that does not exist (or is no kind of review input) is an error before anything is written; a path that
    turns out unreadable while reading, or a single bad review or row, is skipped and reported in the summary. The
    progress bar has a total (and so an ETA) when the inputs are folders, archives or .txt files: counting those
    first is cheap.

    `explain_method` (one of `bertvino.infer.explain.METHODS`) adds a `top_words` column: the words that support
    each review's label most. Each review then runs as its own batches of variants (its words + 1 rows, cut into
    `batch_size` pieces), so this costs about (words seen + 1) times the inference of plain scoring."""
    if batch_size < 1:
        raise BertvinoError("--batch-size must be at least 1")
    skipped, lock = [], threading.Lock()

    def skip(source, reason):
        with lock:
            skipped.append((source, reason))
            bar.update(1)

    check_inputs(paths, split)
    labels = classifier.bundle.labels
    writer = RowWriter(output, labels, resume=resume, overwrite=overwrite, explained=explain_method is not None)
    confusion = Confusion(labels)
    for row in writer.existing_rows:
        confusion.add(row.get("gold") or None, row["label"])
    done_sources = {row["source"] for row in writer.existing_rows}
    bar = tqdm(desc="score", unit=" reviews", total=count_reviews(paths, split) if progress else None,
               disable=not progress, dynamic_ncols=True, file=sys.stderr)

    def finished(batch, probabilities, _seconds):  # called from OpenVINO's threads
        if explain_method is not None:
            explained_finished(batch, probabilities)
            return
        predictions = [classifier.prediction(row) for row in probabilities]
        with lock:
            if writer.error:  # nothing more is written after a failed write, so that --resume can trust the file
                return
            writer.write([(source, prediction, gold) for (source, gold), prediction in zip(batch, predictions)])
            for (_, gold), prediction in zip(batch, predictions):
                confusion.add(gold, prediction.label)
            bar.update(len(batch))

    def explained_finished(part, probabilities):
        collected, start = part
        with lock:
            explanation = collected.add(start, probabilities)
            if explanation is None or writer.error:  # more of this review's variants to come, or a failed write
                return
            writer.write([(collected.source, explanation.prediction, collected.gold, explanation)])
            confusion.add(collected.gold, explanation.prediction.label)
            bar.update(1)

    runner = AsyncBatches(classifier, finished)
    submit = _submit if explain_method is None else functools.partial(_submit_explained, method=explain_method)
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
                scored += submit(runner, classifier, window, batch_size)
                window = []
        else:
            scored += submit(runner, classifier, window, batch_size)
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


def _submit(runner: AsyncBatches, classifier: Classifier, window: list, batch_size: int) -> int:
    """Tokenize a window of (source, gold, text) in one call, sort it by length and queue it as batches; returns how
    many reviews were queued."""
    id_lists = classifier.encode_batch([text for _, _, text in window])
    for batch in length_sorted_batches(id_lists, batch_size):
        runner.submit([id_lists[index] for index in batch], [window[index][:2] for index in batch])
    return len(window)


def _submit_explained(runner: AsyncBatches, classifier: Classifier, window: list, batch_size: int, method: str) -> int:
    """`_submit` for score --explain: each review's variants, in batches of at most `batch_size`. A review's variants
    are made only when its turn comes (submit blocks while OpenVINO is busy), so memory holds the variants of the
    reviews in flight, not of the whole window (hundreds of variants per IMDB review)."""
    for source, gold, text in window:
        occlusion = occlusions(classifier, [text], method)[0]
        collected = _Collected(source, gold, occlusion, method, classifier.bundle.labels)
        for start in range(0, len(occlusion.id_lists), batch_size):
            runner.submit(occlusion.id_lists[start:start + batch_size], (collected, start))
    return len(window)


class _Collected:
    """One review's variant probabilities as their batches finish (in any order), and its explanation once all
    have. Called under score's lock."""

    def __init__(self, source, gold, occlusion, method, labels):
        self.source, self.gold, self.occlusion, self.method, self.labels = source, gold, occlusion, method, labels
        self.probabilities = np.zeros((len(occlusion.id_lists), len(labels)), dtype=np.float32)
        self.missing = len(occlusion.id_lists)

    def add(self, start: int, probabilities):
        self.probabilities[start:start + len(probabilities)] = probabilities
        self.missing -= len(probabilities)
        return self.occlusion.explanation(self.probabilities, self.labels, self.method) if not self.missing else None


def length_sorted_batches(id_lists: list, batch_size: int) -> list:
    """Indices of a window's encoded reviews, sorted by length (ties in reading order) and cut into batches: the
    batches `score` runs, which benchmarks/score_speedup.py replays on the engine alone."""
    order = sorted(range(len(id_lists)), key=lambda index: (len(id_lists[index]), index))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


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

    Columns: source, label, p_<label> for each label, gold (empty where the input gives none), and with
    `explained` top_words: in CSV "word(+0.41) word(+0.12) ...", in JSONL a list of {"word", "start", "end",
    "score"}, the words that support the label most, best first.
    """

    def __init__(self, path, labels, resume=False, overwrite=False, explained=False):
        self.labels = labels
        self.columns = ["source", "label", *[f"p_{label}" for label in labels], "gold"]
        if explained:
            self.columns.append("top_words")
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
        """rows: (source, Prediction, gold) triples, or (source, Prediction, gold, Explanation) for top_words."""
        lines = []
        for source, prediction, gold, *explanation in rows:
            values = [source, prediction.label, *[prediction.probabilities[label] for label in self.labels],
                      gold or ""]
            words = explanation[0].top(TOP_WORDS) if explanation else None
            if self.format == "csv":
                top = [top_words(explanation[0], TOP_WORDS)] if explanation else []
                lines.append(_csv_line([*values[:2], *(f"{p:.6f}" for p in values[2:-1]), values[-1], *top]))
            else:
                if explanation:
                    values.append([word.as_dict() for word in words])
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

