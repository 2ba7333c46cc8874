"""Freeze and convert a BERT-base-sized checkpoint, and compare the IR with the frozen graph.

A random checkpoint shaped like `run_classifier.py`'s output for BERT-base (12 layers, hidden 768, 30,522-word
vocab, Adam slots, global_step) is made in a temporary directory; then the real commands run on it:

    python benchmarks/freeze_convert_bert_base.py [--out benchmarks/results/freeze_convert_bert_base.json]

It writes wall-clock times of `bertvino freeze` and `bertvino convert` (each a fresh process, as a user runs
them) and the max |IR - TensorFlow| of the pooled output for FP32 and FP16, at 128 tokens, batch 4.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.infer.bench import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
             "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
             "initializer_range": 0.02}


def timed(*args) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bertvino", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "freeze_convert_bert_base.json"))
    args = parser.parse_args()

    import checkpoints
    from test_freeze_convert import run_frozen_graph, run_ir

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vocab = checkpoints.VOCAB + [f"word{i}" for i in range(BERT_BASE["vocab_size"] - len(checkpoints.VOCAB))]
        # Weights at BERT's initialisation scale (0.02): larger random weights make a 12-layer model chaotic,
        # where float rounding alone flips outputs, which would say nothing about the converter.
        prefix = checkpoints.make_finetuned(tmp / "ckpt", BERT_BASE, step=1000, head_scale=0.05, vocab=vocab,
                                            scale=0.02)
        checkpoint_mb = sum(f.stat().st_size for f in (tmp / "ckpt").glob("model.ckpt-1000.*")) / 1e6
        results = {"checkpoint": "random BERT-base (12 layers, hidden 768, vocab 30522) with Adam slots",
                   "checkpoint_MB": round(checkpoint_mb), "freeze_s": timed("freeze", "--checkpoint", prefix,
                                                                           "-o", str(tmp / "bundle"))}
        results["convert_fp32_s"] = timed("convert", str(tmp / "bundle"))
        rng = np.random.default_rng(0)
        arrays = {"input_ids": rng.integers(5, 30522, (4, 128)).astype(np.int32),
                  "input_mask": np.ones((4, 128), np.int32), "segment_ids": np.zeros((4, 128), np.int32)}
        arrays["input_mask"][1, 64:] = 0
        reference = run_frozen_graph(tmp / "bundle" / "frozen.pb", arrays)
        results["max_abs_diff_fp32"] = float(np.abs(run_ir(tmp / "bundle", arrays) - reference).max())
        results["convert_fp16_s"] = timed("convert", str(tmp / "bundle"), "--precision", "fp16")
        results["max_abs_diff_fp16"] = float(np.abs(run_ir(tmp / "bundle", arrays) - reference).max())
        results["bundle_MB_fp16_ir"] = round((tmp / "bundle" / "model.bin").stat().st_size / 1e6)
    results["machine"] = describe_machine()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
