"""Dynamic batching: texts from concurrent requests share OpenVINO batches.

One text at a time leaves most of the CPU idle between small matrix products; a batch of texts keeps it busy. A
service gets texts one request at a time, so `DynamicBatcher` gathers them:

    classify(texts)                          (one per HTTP request, on the event loop)
      -> tokenize in a thread pool           (CPU-bound: kept off the event loop), one call per request
      -> one pending entry per text, each with an asyncio future, in arrival order
    gather loop                              (one asyncio task)
      -> waits for the first pending text, then for more until the batch has `max_batch_size` texts or
         `max_wait_ms` have passed since that first text arrived
      -> hands the batch to `AsyncBatches.submit` in a one-thread executor: it pads the batch to its longest
         text and starts it on a free OpenVINO infer request, blocking while every request is busy
    OpenVINO callback thread
      -> head + softmax, then `loop.call_soon_threadsafe` resolves the batch's futures on the event loop

Several batches are in flight at once (one per infer request of the THROUGHPUT-compiled model). While every
request is busy, the gather loop waits inside `submit` and new texts pile up, so under load batches fill up by
themselves and `max_wait_ms` only matters when the service is quiet: the wait costs a lone request at most
`max_wait_ms` of latency. Texts are not bucketed by length; a batch pads to its longest text.

`warm_up()` runs one text of each length bucket (16, 32, 64, ... word pieces, up to max_seq_length) on every
infer request before the service calls itself ready: OpenVINO prepares each new input shape on its first run, which
made the first requests ten times slower than the rest.

`close()` drains: it refuses new texts, lets every `classify` call already started get its results (queued
batches included), and only then stops the gather loop and the threads.
"""

import asyncio
import collections
import dataclasses
from concurrent.futures import ThreadPoolExecutor

from .classifier import AsyncBatches, Classifier


class BatcherClosed(Exception):
    """`classify` was called after `close()` began: the service is shutting down."""


@dataclasses.dataclass
class _Pending:
    ids: list  # the text's word-piece ids, [CLS] ... [SEP]
    future: asyncio.Future  # resolved with its Prediction
    arrived: float  # loop.time() when it joined the queue


class DynamicBatcher:
    """Classifies texts from many concurrent callers in shared batches. Create, `await start()`, then
    `await classify(texts)` from any number of tasks, and `await close()` at the end.

    For metrics, on the event loop: `on_batch(queue_waits)` as each batch starts on OpenVINO, with the seconds each
    of its texts waited since it was tokenized; `on_inference(seconds)` as each batch finishes, with the seconds
    OpenVINO spent on it. The compiled tokenizer already uses every core for a request's texts, so more
    `tokenizer_threads` would not tokenize faster; two keep one huge request from stalling the rest.
    `max_batch_size` and `max_wait_ms` have no defaults here: the service's options declare them (ServeOptions).
    """

    def __init__(self, classifier: Classifier, *, max_batch_size: int, max_wait_ms: float,
                 on_batch=None, on_inference=None, tokenizer_threads: int = 2):
        self.classifier = classifier
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._on_batch = on_batch
        self._on_inference = on_inference
        self._tokenizer_threads = tokenizer_threads
        self._pending = collections.deque()
        self._accepting = False
        self._stopping = False
        self._calls_in_progress = 0
        self._warming_up = False

    async def start(self):
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()  # set whenever texts join self._pending (or on stop)
        self._no_calls = asyncio.Event()
        self._no_calls.set()
        self._tokenizers = ThreadPoolExecutor(self._tokenizer_threads, thread_name_prefix="bertvino-tokenize")
        self._submitter = ThreadPoolExecutor(1, thread_name_prefix="bertvino-submit")
        self._batches = AsyncBatches(self.classifier, self._batch_finished)
        self._gather_task = asyncio.create_task(self._gather_loop(), name="bertvino-batcher")
        self._accepting = True

    async def classify(self, texts) -> list:
        """[Prediction] for `texts`, in order, computed in batches shared with other callers."""
        predictions, _ = await self.run(lambda: (self.classifier.encode_batch(texts), None))
        return predictions

    async def run(self, encode) -> tuple:
        """`encode()` -> (id lists, anything) in the tokenizer pool, then ([Prediction] of the id lists in order,
        that anything): how callers with their own inputs (explanations' variants) share the batches."""
        if not self._accepting:
            raise BatcherClosed("the service is shutting down")
        self._calls_in_progress += 1
        self._no_calls.clear()
        try:
            id_lists, extra = await self._loop.run_in_executor(self._tokenizers, encode)
            arrived = self._loop.time()
            futures = [self._loop.create_future() for _ in id_lists]
            self._pending.extend(_Pending(ids, future, arrived) for ids, future in zip(id_lists, futures))
            self._arrived.set()
            return list(await asyncio.gather(*futures)), extra
        finally:
            self._calls_in_progress -= 1
            if self._calls_in_progress == 0:
                self._no_calls.set()

    async def warm_up(self):
        """One batch of one text per length bucket on every infer request, so no client pays for the first runs."""
        vocab = self.classifier.tokenizer.vocab
        self._warming_up = True  # not counted in the metrics
        try:
            for length in length_buckets(self.classifier.bundle.max_seq_length):
                ids = [vocab["[CLS]"]] + [vocab["[UNK]"]] * (length - 2) + [vocab["[SEP]"]]
                futures = [self._loop.create_future() for _ in range(len(self._batches))]
                for future in futures:
                    await self._loop.run_in_executor(self._submitter, self._batches.submit, [ids], [future])
                await asyncio.gather(*futures)
        finally:
            self._warming_up = False

    @property
    def pending(self) -> int:
        """Texts tokenized and waiting for a batch."""
        return len(self._pending)

    async def close(self):
        """Refuse new texts, finish every call already started, then stop the gather loop and threads."""
        self._accepting = False
        await self._no_calls.wait()
        self._stopping = True
        self._arrived.set()
        await self._gather_task
        await self._loop.run_in_executor(None, self._batches.close)  # after batches of cancelled calls, if any
        self._submitter.shutdown()
        self._tokenizers.shutdown()

    async def _gather_loop(self):
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._wait_for_more(deadline=self._pending[0].arrived + self.max_wait)
            size = min(self.max_batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(size)]
            batch = [entry for entry in batch if not entry.future.done()]  # callers cancelled meanwhile
            if batch:
                await self._submit(batch)

    async def _wait_for_more(self, deadline: float):
        """Until the batch is full or `deadline` (loop time) passes, whichever comes first."""
        while len(self._pending) < self.max_batch_size and not self._stopping:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _submit(self, batch: list):
        futures = [entry.future for entry in batch]
        try:
            await self._loop.run_in_executor(self._submitter, self._batches.submit,
                                             [entry.ids for entry in batch], futures)
        except Exception as err:  # the batch never started: its callers get the error, the service goes on
            _resolve(futures, error=err)
            return
        if self._on_batch is not None:  # submit returns once the batch has started: the texts' wait is over
            now = self._loop.time()
            self._on_batch([now - entry.arrived for entry in batch])

    def _batch_finished(self, futures, probabilities, seconds):
        """OpenVINO's callback thread: make the predictions here, resolve the futures on the event loop."""
        report = self._on_inference is not None and not self._warming_up  # before warm-up's futures resolve
        try:
            predictions = [self.classifier.prediction(row) for row in probabilities]
            self._loop.call_soon_threadsafe(_resolve, futures, predictions)
        except Exception as err:
            self._loop.call_soon_threadsafe(_resolve, futures, None, err)
        if report:
            self._loop.call_soon_threadsafe(self._on_inference, seconds)


def length_buckets(max_seq_length: int) -> list:
    """16, 32, 64, ... below max_seq_length, then max_seq_length itself: the lengths `warm_up` runs."""
    lengths, length = [], 16
    while length < max_seq_length:
        lengths.append(length)
        length *= 2
    return [*lengths, max_seq_length]


def _resolve(futures, predictions=None, error=None):
    for index, future in enumerate(futures):
        if future.done():  # its caller was cancelled
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(predictions[index])
