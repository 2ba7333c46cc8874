"""`bertvino bench` and the compute floor it measures against."""

import json

import pytest

from bertvino.cli import main
from bertvino.bundle import load_bundle
from bertvino.infer.bench import FlopCounter, review_latency_ms, sgemm_gflops
from bertvino.infer.classifier import Classifier

from checkpoints import TINY_CONFIG


@pytest.mark.parametrize("seq_len", [8, 21, 32])
def test_matmul_flops_counted_from_the_ir_match_berts_formula(fp32_bundle, seq_len):
    """Per layer: Q, K, V and output projections 8 L H^2, attention scores and context 4 L^2 H, feed-forward
    4 L H I; then the pooler's 2 H^2 (on [CLS] only)."""
    L, H, I = seq_len, TINY_CONFIG["hidden_size"], TINY_CONFIG["intermediate_size"]
    per_layer = 8 * L * H * H + 4 * L * L * H + 4 * L * H * I
    expected = TINY_CONFIG["num_hidden_layers"] * per_layer + 2 * H * H
    assert FlopCounter(fp32_bundle / "model.xml")(seq_len) == expected


def test_sgemm_rate_is_plausible():
    assert 1 < sgemm_gflops(size=256, repeats=2) < 100_000


def test_review_latency_times_one_review_per_call(fp32_bundle):
    calls = []

    class CountingClassifier(Classifier):
        def predict(self, texts):
            calls.append(len(texts))
            return super().predict(texts)

    texts = ["a fine film", "dull and far too long " * 20, "ok", "great", "bad"]
    latency = review_latency_ms(CountingClassifier(load_bundle(fp32_bundle)), texts)
    assert latency["reviews"] == len(texts) and 0 < latency["p50_ms"] <= latency["p95_ms"]
    assert calls == [1] * (3 + len(texts))  # three warm-up calls, then one timed call per review


def test_bench_writes_a_table_and_json(fp32_bundle, tmp_path, capsys):
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    assert main(["bench", "-m", str(fp32_bundle), "--lengths", "8,16", "--precisions", "fp32,fp16",
                 "--seconds", "0.05", "--no-tensorflow", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    results = json.loads(out_json.read_text())
    engines = {row["engine"] for row in results["rows"]}
    assert {"OpenVINO FP32", "OpenVINO FP16"} <= engines
    assert {row["seq_len"] for row in results["rows"]} == {8, 16}
    for row in results["rows"]:
        assert row["latency_p50_ms"] > 0 and row["throughput_seq_per_s"] > 0 and row["floor_pct_throughput"] > 0
    assert results["classify_cold_start_s"] > 0 and results["machine"]["cores"] >= 1
    assert "INT8" not in out_md.read_text() and "| OpenVINO FP16 | 16 |" in out_md.read_text()
