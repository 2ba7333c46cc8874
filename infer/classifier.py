"""The classifier at run time: WordPiece -> OpenVINO IR (pooled output) -> NumPy head -> calibration -> softmax.

OpenVINO and NumPy only. The IR stops at BERT's pooler; the head (`weight.npy` [labels, hidden], `bias.npy`)
is one small matrix product done here, as in the original OpenVINO BERT sample. A calibrated bundle's logits are
then divided by its temperature (which may depend on each text's length, see `calibration.py`) before the softmax:
every path (classify, score, serve, score --ray, the Python API) goes through `probabilities` or `AsyncBatches`,
so every path gives the same calibrated probabilities.
"""

import dataclasses
import queue
import threading

import numpy as np

from ..core.bundle import INPUT_NAMES, OUTPUT_NAME, Bundle
from ..core.errors import BertvinoError, file_error, first_line
from ..core.features import MAX_BATCH_TOKENS, SecondLook, encode_batch, pad_batch, reading, stepped_length
from .calibration import Calibration, softmax
from .precision import compile_config


@dataclasses.dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict  # {label: probability}, in the bundle's label order


class Classifier:
    """A bundle compiled for one OpenVINO device.

    >>> classifier = Classifier(load_bundle("model"), device="CPU")
    >>> classifier.predict(["A wonderful film."])[0].label
    'positive'
    """

    def __init__(self, bundle: Bundle, device: str = "CPU", performance_hint: str = "LATENCY",
                 precision: str | None = None, threads: int | None = None, long_texts: str | None = None,
                 measure: bool = False):
        """`precision`: a path (f32, bf16, int8), auto, or None for $BERTVINO_PRECISION else auto; `long_texts`
        overrides the bundle's; `measure`: auto may time the paths now when this machine has no measurement cached
        (seconds: not for one classify)."""
        from concurrent.futures import ThreadPoolExecutor

        import openvino as ov

        from .autotune import choose_for_device

        self.bundle = bundle
        try:
            self.reading = reading(bundle.truncation, bundle.long_texts if long_texts is None else long_texts,
                                   bundle.max_seq_length)
        except BertvinoError as err:  # the bundle's long_texts names the file; a caller's own value does not
            raise (err if long_texts is not None else file_error(bundle.path / "bundle.json", str(err))) from None
        self.weight, self.bias = bundle.head()
        self.calibration = bundle_calibration(bundle)  # None: the model's own probabilities
        core = ov.Core()
        check_device(core, device)
        self.choice = choose_for_device(core, device, bundle, precision, measure)  # which path, IR, and why
        model_xml = self.choice.model_xml
        # The tokenizer loads (Python) while OpenVINO compiles or loads the model from its cache (C++, without the
        # GIL): a one-text classify waits for the longer of the two, not their sum.
        with ThreadPoolExecutor(1) as loader:
            tokenizer = loader.submit(bundle.tokenizer)
            try:  # from the file, so that OpenVINO's model cache can skip reading it too
                self.compiled = core.compile_model(str(model_xml), device, compile_config(
                    device, performance_hint, self.choice.hint, threads, model_xml=model_xml))
            except RuntimeError as err:
                raise file_error(model_xml, f"OpenVINO cannot read this IR ({first_line(err)}); "
                                            f"re-run `bertvino convert {bundle.path}`") from None
            self.tokenizer = tokenizer.result()
        _check_model(self.compiled, bundle, model_xml)
        self.device = device

    def encode(self, text: str) -> list:
        """[CLS] ... [SEP] ids of one text, truncated as the bundle was trained."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts) -> list:
        """`encode` of each text, tokenized in one call (by the compiled tokenizer, unless it must fall back)."""
        return encode_batch(self.tokenizer, texts, self.bundle.max_seq_length, self.reading)

    def pooled(self, id_lists) -> np.ndarray:
        """Run the IR on a batch of encoded texts, padded to the longest: [batch, hidden] (with windows, each
        text's windows run as rows of the batch and their pooled outputs are averaged; with a second look, the
        unsure long texts are run again as windows)."""
        rows, owners = self.reading.rows(id_lists, self.bundle.max_seq_length)
        pooled = self.reading.merge(self._run(rows), owners)
        unsure = self.unsure(id_lists, pooled)
        if not unsure:
            return pooled
        rows, owners = self.reading.second_rows([id_lists[index] for index in unsure], self.bundle.max_seq_length)
        per_batch = rows_per_batch(rows, self.bundle.max_seq_length)
        windows = np.concatenate([self._run(rows[start:start + per_batch]) for start in range(0, len(rows), per_batch)])
        pooled = pooled.copy()
        pooled[unsure] = self.reading.merge_second(pooled[unsure], windows, owners)
        return pooled

    def _run(self, rows) -> np.ndarray:
        return self.compiled(pad_batch(rows))[self.compiled.output(OUTPUT_NAME)]

    def unsure(self, id_lists, pooled) -> list:
        """Indices of the texts a `SecondLook` reading reads again whole (none for the other readings)."""
        if not isinstance(self.reading, SecondLook):
            return []
        top = softmax(self.logits(pooled)).max(axis=1)
        return self.reading.unsure(id_lists, top, self.bundle.max_seq_length)

    def lengths(self, id_lists) -> np.ndarray:
        """The word pieces of each encoded text that one row of the model reads ([CLS] and [SEP] included): what
        a length-dependent calibration depends on."""
        return np.minimum([len(ids) for ids in id_lists], self.bundle.max_seq_length)

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """The head: pooled [batch, hidden] -> logits [batch, labels], uncalibrated. Linear, so the mean of the
        windows' pooled outputs gives the mean of their logits."""
        return pooled @ self.weight.T + self.bias

    def probabilities(self, pooled: np.ndarray, lengths) -> np.ndarray:
        """Head, calibration and softmax: pooled [batch, hidden] and each text's `lengths` -> probabilities."""
        logits = self.logits(pooled)
        if self.calibration is not None:
            logits = self.calibration.apply(logits, lengths)
        return softmax(logits)

    def predict(self, texts) -> list:
        """Classify a batch of texts together: [Prediction] in the same order."""
        id_lists = self.encode_batch(texts)
        probabilities = self.probabilities(self.pooled(id_lists), self.lengths(id_lists))
        return [self.prediction(row) for row in probabilities]

    def prediction(self, probabilities_row) -> Prediction:
        labels = self.bundle.labels
        return Prediction(label=labels[int(np.argmax(probabilities_row))],
                          probabilities={label: float(p) for label, p in zip(labels, probabilities_row)})


class AsyncBatches:
    """Runs padded batches on OpenVINO's `AsyncInferQueue`, several in flight at once, so both cores stay busy
    while Python tokenizes the next batch.

    `done(userdata, probabilities, seconds)` is called, from an OpenVINO thread, as each batch finishes, with the
    seconds OpenVINO spent on it: it must be thread-safe. Compile the classifier with
    `performance_hint="THROUGHPUT"` for this.

    With a `SecondLook` reading, a batch whose first read left long texts unsure is not done yet: its unsure texts'
    windows are queued as a batch of their own (by a thread of this object's, since a callback must not wait for a
    free request), and `done` is called once those finish, with the batch's probabilities from both reads.
    """

    def __init__(self, classifier: Classifier, done, jobs: int = 0, max_batch_tokens: int = MAX_BATCH_TOKENS):
        """`max_batch_tokens`: the most tokens (padding included) a batch of second reads holds, as `score` bounds
        its own batches, so that windows never hold more activations than a batch of reviews."""
        import openvino as ov

        self.classifier = classifier
        self.max_batch_tokens = max_batch_tokens
        self.queue = ov.AsyncInferQueue(classifier.compiled, jobs)  # 0: OpenVINO's optimal number of requests
        self.queue.set_callback(self._finished)
        self._done = done
        self._rereads = None  # a SecondLook's second reads: queued by `_finished`, submitted by `_submit_rereads`
        self._reread_error = None
        # AsyncInferQueue.start_async is not thread-safe (two threads can be handed the same idle request: "Infer
        # Request is busy"), and with a second look two threads submit: one at a time.
        self._submitting = threading.Lock()
        if isinstance(classifier.reading, SecondLook):
            self._rereads = queue.Queue()
            threading.Thread(target=self._submit_rereads, name="second-looks", daemon=True).start()

    def _finished(self, request, batch):
        classifier = self.classifier
        output, seconds = request.get_tensor(OUTPUT_NAME).data, request.latency / 1000
        if isinstance(batch, _RereadPart):
            reread = batch.reread
            with reread.lock:  # a reread's parts finish on OpenVINO's threads, maybe at once
                reread.windows[batch.start:batch.start + len(output)] = output
                reread.seconds += seconds
                reread.parts_left -= 1
                if reread.parts_left:
                    return
            reread.pooled[reread.unsure] = classifier.reading.merge_second(reread.pooled[reread.unsure],
                                                                           reread.windows, reread.owners)
            self._done(reread.userdata, classifier.probabilities(reread.pooled, reread.lengths), reread.seconds)
            self._rereads.task_done()
            return
        userdata, owners, lengths, id_lists = batch
        pooled = classifier.reading.merge(output, owners)
        unsure = classifier.unsure(id_lists, pooled)  # id_lists is None unless the reading is a SecondLook
        if unsure:  # pooled is the request's own tensor, reused by its next batch: keep a copy
            self._rereads.put(_Reread(userdata, lengths, pooled.copy(), unsure, [id_lists[i] for i in unsure],
                                      seconds))
            return
        self._done(userdata, classifier.probabilities(pooled, lengths), seconds)

    def submit(self, id_lists, userdata):
        """Queue one batch of encoded texts (each text's windows as rows, with long_texts windows), padded to its
        longest rounded up to a multiple of LENGTH_STEP (few distinct shapes keep OpenVINO's per-shape memory small);
        blocks while every request is busy."""
        rows, owners = self.classifier.reading.rows(id_lists, self.classifier.bundle.max_seq_length)
        batch = (userdata, owners, self.classifier.lengths(id_lists), id_lists if self._rereads is not None else None)
        with self._submitting:
            self.queue.start_async(self._padded(rows), batch)

    def _padded(self, rows) -> dict:
        max_seq_length = self.classifier.bundle.max_seq_length
        return pad_batch(rows, stepped_length(max(len(ids) for ids in rows), max_seq_length))

    def _submit_rereads(self):
        """The second-look thread: each unsure batch's windows into the queue, in batches of at most
        `max_batch_tokens`, until `close` sends None."""
        max_seq_length = self.classifier.bundle.max_seq_length
        while (reread := self._rereads.get()) is not None:
            try:
                rows, reread.owners = self.classifier.reading.second_rows(reread.id_lists, max_seq_length)
                per_batch = rows_per_batch(rows, max_seq_length, self.max_batch_tokens)
                starts = range(0, len(rows), per_batch)
                reread.windows = np.empty((len(rows), self.classifier.bundle.hidden_size), dtype=np.float32)
                reread.parts_left = len(starts)
                for start in starts:
                    with self._submitting:
                        self.queue.start_async(self._padded(rows[start:start + per_batch]), _RereadPart(reread, start))
            except Exception as err:  # noqa: BLE001 -- re-raised by `wait`, in the thread that waits
                self._reread_error = err
                self._rereads.task_done()
        self._rereads.task_done()

    def __len__(self) -> int:
        """How many batches can run at once (OpenVINO's infer requests)."""
        return len(self.queue)

    def wait(self):
        """Block until every submitted batch has called `done`."""
        self.queue.wait_all()  # every first read has finished, so every second read is queued
        if self._rereads is not None:
            self._rereads.join()  # ... and has finished too
            if self._reread_error is not None:
                raise self._reread_error

    def close(self):
        """`wait`, then let go of the infer queue (and stop the second-look thread). The queue holds `_finished`, a
        reference back to this object that Python's garbage collector cannot see through (it is held in C++), so
        without this the cycle, and the compiled model with it, would never be freed: a model repository's drained
        versions would keep their memory.
        """
        try:
            self.wait()
        finally:
            if self._rereads is not None:
                self._rereads.put(None)
            self.queue = None


@dataclasses.dataclass
class _Reread:
    """A batch waiting for the second read of its unsure long texts."""
    userdata: object
    lengths: np.ndarray
    pooled: np.ndarray  # [batch, hidden], the first read's
    unsure: list  # indices into the batch
    id_lists: list  # the unsure texts' whole word pieces
    seconds: float  # OpenVINO's time for the reads so far
    owners: np.ndarray | None = None  # each window row's index into `unsure`, set when submitted
    windows: np.ndarray | None = None  # [window rows, hidden], filled as its parts finish
    parts_left: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


@dataclasses.dataclass(frozen=True)
class _RereadPart:
    """One batch of a reread's window rows, from row `start`."""
    reread: _Reread
    start: int


def rows_per_batch(rows, max_seq_length: int, max_batch_tokens: int = MAX_BATCH_TOKENS) -> int:
    """How many of these rows (windows, all about max_seq_length long) one batch holds within the token budget."""
    return max(1, max_batch_tokens // stepped_length(max(len(row) for row in rows), max_seq_length))


def check_device(core, device: str):
    """An unknown device gets an error listing the ones this machine has."""
    if device == "CPU":  # always there; listing the devices probes every plugin (GPU, NPU): ~0.1 s of start-up
        return
    available = core.available_devices
    # Virtual devices ("AUTO", "MULTI:CPU,GPU", "HETERO:GPU,CPU", "BATCH:...") name real ones after a colon.
    name = device.split(":")[0].split(".")[0]
    virtual = {"AUTO", "MULTI", "HETERO", "BATCH"}
    known = {d.split(".")[0] for d in available} | virtual
    if name not in known or (device.split(".")[0] != device and device not in available):
        raise BertvinoError(f"unknown OpenVINO device {device!r}; this machine has: "
                            f"{', '.join(available + sorted(virtual))}")


def bundle_calibration(bundle: Bundle) -> Calibration | None:
    record = bundle.calibration_record
    try:
        return None if record is None else Calibration.from_record(record)
    except BertvinoError as err:
        raise file_error(bundle.path / "bundle.json", str(err)) from None


def _check_model(model, bundle: Bundle, model_xml):
    """The IR (a compiled model) must have our three inputs and a [batch, hidden] pooled output that fits the
    head."""
    input_names = {name for port in model.inputs for name in port.get_names()}
    missing = [name for name in INPUT_NAMES if name not in input_names]
    output_names = {name for port in model.outputs for name in port.get_names()}
    if missing or OUTPUT_NAME not in output_names:
        raise file_error(model_xml, f"not a bertvino IR: expected inputs {', '.join(INPUT_NAMES)} and "
                                           f"output {OUTPUT_NAME}; re-run `bertvino convert {bundle.path}`")
    hidden = model.output(OUTPUT_NAME).get_partial_shape()[-1]
    if hidden.is_static and hidden.get_length() != bundle.hidden_size:
        raise file_error(model_xml, f"outputs {hidden.get_length()} values per text but the head "
                                           f"expects {bundle.hidden_size}")
