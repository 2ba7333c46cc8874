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

from bertvino.convert.tf_runtime import frozen_graph_output
from bertvino.core.features import pad_batch
from bertvino.infer.bench import compile_for, openvino_runner
from bertvino.train.random_checkpoint import make_finetuned
from common import RESULTS_DIR, measured_on, write_results

# [PAD] [UNK] [CLS] [SEP] [MASK], then made-up words up to BERT-base's 30,522.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(30522 - 5)]

BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
             "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
             "initializer_range": 0.02}


def timed(*args) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bertvino", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - started


def ir_output(bundle_dir, arrays):
    """The IR in OpenVINO, computing in f32 (on bf16-capable CPUs OpenVINO would otherwise pick bf16)."""
    import openvino as ov
    return openvino_runner(compile_for(ov.Core(), bundle_dir / "model.xml", "CPU", "LATENCY", "f32"))(arrays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS_DIR / "freeze_convert_bert_base.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Weights at BERT's initialisation scale (0.02): larger random weights make a 12-layer model chaotic,
        # where float rounding alone flips outputs, which would say nothing about the converter.
        prefix = make_finetuned(tmp / "ckpt", BERT_BASE, VOCAB, step=1000, head_scale=0.05, scale=0.02)
        checkpoint_mb = sum(f.stat().st_size for f in (tmp / "ckpt").glob("model.ckpt-1000.*")) / 1e6
        results = {"checkpoint": "random BERT-base (12 layers, hidden 768, vocab 30522) with Adam slots",
                   "checkpoint_MB": round(checkpoint_mb), "freeze_s": timed("freeze", "--checkpoint", prefix,
                                                                           "-o", str(tmp / "bundle"))}
        results["convert_fp32_s"] = timed("convert", str(tmp / "bundle"))
        rng = np.random.default_rng(0)
        arrays = pad_batch([rng.integers(5, 30522, 128), rng.integers(5, 30522, 64), rng.integers(5, 30522, 128),
                            rng.integers(5, 30522, 128)])  # the second one padded
        reference = frozen_graph_output(tmp / "bundle" / "frozen.pb", arrays)
        results["max_abs_diff_fp32"] = float(np.abs(ir_output(tmp / "bundle", arrays) - reference).max())
        results["convert_fp16_s"] = timed("convert", str(tmp / "bundle"), "--precision", "fp16")
        results["max_abs_diff_fp16"] = float(np.abs(ir_output(tmp / "bundle", arrays) - reference).max())
        results["bundle_MB_fp16_ir"] = round((tmp / "bundle" / "model.bin").stat().st_size / 1e6)
    results.update(measured_on())
    write_results(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
