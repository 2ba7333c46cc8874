"""The two timing primitives that bench and auto's measurement share: random inputs of a shape, and the rate of an
OpenVINO async queue kept full. NumPy, and the model's input names."""

import time

import numpy as np

from ..core.bundle import INPUT_NAMES


def random_batch(batch: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict:
    """Inputs of real shape and dtype: ids drawn past the special tokens, every position a real token."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000 if vocab_size > 2000 else 5, vocab_size, (batch, seq_len)).astype(np.int32)
    return dict(zip(INPUT_NAMES, (ids, np.ones((batch, seq_len), np.int32), np.zeros((batch, seq_len), np.int32))))


def queue_throughput(queue, arrays: dict, seconds: float) -> float:
    """Sequences/s through an `AsyncInferQueue` kept full over about `seconds`, at least one batch per request
    (bench's engine rows, and auto's measurement in infer/autotune.py)."""
    batches, started = 0, time.perf_counter()
    while batches < len(queue) or time.perf_counter() - started < seconds:
        queue.start_async(arrays)
        batches += 1
    queue.wait_all()
    return batches * len(next(iter(arrays.values()))) / (time.perf_counter() - started)
