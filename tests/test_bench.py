"""`bertvino bench`, the arithmetic peaks it measures against, and the engine/pipeline split."""

import json

import pytest

from bertvino.cli import main
from bertvino.core.bundle import load_bundle
from bertvino.core.features import encode
from bertvino.infer.bench import FlopCounter, matmul_peak, review_latency_ms, texts_of_length
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


def test_openvino_matmul_peaks_are_plausible_and_int8_runs_as_int8():
    import openvino as ov
    from bertvino.infer.bench import matmul_model
    core = ov.Core()
    for arithmetic in ("f32", "int8"):
        assert 0.1 < matmul_peak(core, arithmetic, size=256, seconds=0.05) < 100_000
    compiled = core.compile_model(matmul_model(64, int8=True), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    runtime = {op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ops()
               if op.get_rt_info()["layerType"].astype(str) in ("MatMul", "FullyConnected")}
    assert runtime & {"u8", "i8"}  # the quantized MatMul really is computed in int8


def test_pipeline_texts_encode_to_exactly_the_length(fp32_bundle):
    tokenizer = load_bundle(fp32_bundle).tokenizer()
    for seq_len in (8, 31):
        assert {len(encode(tokenizer, text, 512)) for text in texts_of_length(tokenizer, seq_len, 5)} == {seq_len}


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


def test_bench_writes_a_table_chart_and_json_per_path(fp32_bundle, reviews_dir, tmp_path, capsys):
    pytest.importorskip("nncf")
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    assert main(["bench", "-m", str(fp32_bundle), "--lengths", "8,16", "--precision", "f32,int8",
                 "--calibration", str(reviews_dir), "--seconds", "0.05", "--no-tensorflow",
                 "--json", str(out_json), "--markdown", str(out_md)]) == 0
    results = json.loads(out_json.read_text())
    assert {(row["path"], row["seq_len"]) for row in results["rows"]} == {(p, n) for p in ("f32", "int8")
                                                                          for n in (8, 16)}
    assert set(results["peaks"]) == {"f32", "int8"} and all(v > 0 for v in results["peaks"].values())
    for row in results["rows"]:
        assert row["latency_p50_ms"] > 0 and row["engine_seq_per_s"] > 0 and row["pipeline_seq_per_s"] > 0
        assert row["peak_pct"] > 0 and row["arithmetic"] == row["path"]
    assert results["classify_cold_start_s"] > 0 and results["machine"]["cores"] >= 1 and results["peak_rss_mb"] > 50
    table = out_md.read_text()
    assert "| int8 | 16 |" in table and "% of own peak" in table
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG") and "bench.png" in table
    except ImportError:
        assert any("matplotlib" in note for note in results["notes"]) and not (tmp_path / "bench.png").exists()
    assert not (fp32_bundle / "model-int8.xml").exists()  # the INT8 IR was made in a copy, not in the bundle
