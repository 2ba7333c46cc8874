"""auto by measurement: the cache (its key, a changed IR, an unwritable directory) and picking from a table; and
score's batches: the token budget and the few padded lengths that keep its memory down."""

import json
import os

import pytest

from bertvino.core.bundle import load_bundle, record_path_accuracy
from bertvino.infer import autotune
from bertvino.infer.cache import CACHE_ENV
from bertvino.infer.autotune import choose_for_device
from bertvino.infer.precision import Capabilities, choose_precision, pick
from bertvino.infer.scoring import length_sorted_batches

VNNI_BF16 = Capabilities(cpu_flags=frozenset({"avx512_vnni", "avx512_bf16"}), openvino=frozenset({"FP32", "BF16"}),
                         cpu_model="Test CPU")
GOOD = {"reviews": 5000, "accuracy": 0.91, "float_accuracy": 0.91, "agreement": 0.995}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def guarded_bundle(fp32_bundle, copy_bundle):
    """The float IR with bf16's accuracy recorded: auto may run f32 or bf16 (where native)."""
    path = copy_bundle(fp32_bundle)
    record_path_accuracy(load_bundle(path), "bf16", {"test": GOOD})
    return load_bundle(path)


def test_pick_prefers_the_more_accurate_path_within_the_tolerance():
    assert pick({"f32": 100, "bf16": 180, "int8": 200})[0] == "int8"
    path, why = pick({"f32": 100, "bf16": 196, "int8": 200})  # bf16 within 3 % of int8
    assert path == "bf16" and "within 3 %" in why
    assert pick({"f32": 99, "int8": 100})[0] == "f32"
    assert "2.00x f32" in pick({"f32": 50, "int8": 100})[1]


def test_auto_picks_from_a_measured_table_only_when_it_covers_every_usable_path(guarded_bundle):
    measured = choose_precision(VNNI_BF16, guarded_bundle, "auto", measured={"f32": 100.0, "bf16": 150.0})
    assert measured.path == "bf16" and "fastest measured here, 1.50x f32" in measured.reason
    slower = choose_precision(VNNI_BF16, guarded_bundle, "auto", measured={"f32": 100.0, "bf16": 90.0})
    assert slower.path == "f32"  # measuring beats the flag rule, which would say bf16
    partial = choose_precision(VNNI_BF16, guarded_bundle, "auto", measured={"f32": 100.0})
    assert partial.path == "bf16" and "not measured" in partial.reason  # a stale table: the rule instead


def test_the_cache_key_names_the_cpu_openvino_and_each_ir(guarded_bundle, cache):
    key = autotune.cache_key(guarded_bundle, VNNI_BF16)
    assert key["cpu"] == "Test CPU" and "avx512_vnni" in key["cpu_flags"] and key["openvino"]
    assert set(key["irs"]) == {"model.xml"} and len(key["irs"]["model.xml"]["xml_sha256"]) == 64
    other_cpu = Capabilities(cpu_flags=frozenset({"avx2"}), openvino=VNNI_BF16.openvino, cpu_model="Test CPU")
    assert autotune.cache_key(guarded_bundle, other_cpu) != key
    assert key["int8_float_ops"] == "bf16"  # the int8 path's compile rule on this CPU: a new rule, a new key
    no_bf16 = Capabilities(cpu_flags=VNNI_BF16.cpu_flags, openvino=frozenset({"FP32"}), cpu_model="Test CPU")
    assert autotune.cache_key(guarded_bundle, no_bf16)["int8_float_ops"] == "f32"


def test_a_saved_table_is_read_back_and_a_changed_ir_invalidates_it(guarded_bundle, cache):
    table = {"seq_per_s": {"f32": 10.0, "bf16": 20.0}, "by_length": {}}
    saved = autotune.save(guarded_bundle, VNNI_BF16, table)
    assert saved.parent == cache / "auto" and json.loads(saved.read_text())["seq_per_s"] == table["seq_per_s"]
    assert autotune.cached(guarded_bundle, VNNI_BF16)["seq_per_s"] == table["seq_per_s"]
    binary = guarded_bundle.model_bin  # the same IR remade: the .bin's mtime moves
    stat = binary.stat()
    os.utime(binary, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert autotune.cached(guarded_bundle, VNNI_BF16) is None
    os.utime(binary, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert autotune.cached(guarded_bundle, VNNI_BF16) is not None
    guarded_bundle.model_xml.write_text(guarded_bundle.model_xml.read_text() + "\n")  # a changed .xml
    assert autotune.cached(guarded_bundle, VNNI_BF16) is None
    saved.write_text("{not json")  # a torn file is a miss, not a crash
    assert autotune.cached(guarded_bundle, VNNI_BF16) is None


def test_measuring_times_each_path_and_caches_it(guarded_bundle, cache):
    import openvino as ov

    from bertvino.infer.precision import detect_capabilities

    capabilities = detect_capabilities()
    table, where = autotune.measure_and_save(guarded_bundle, capabilities, ["f32"], ov.Core(), rounds=1)
    assert table["seq_per_s"]["f32"] > 0 and set(table["by_length"]["f32"]) == {"8", "16"}  # max_seq_length 32
    assert where.startswith("cached in ") and autotune.cached(guarded_bundle, capabilities)["seq_per_s"] == \
        table["seq_per_s"]


def test_an_unwritable_cache_falls_back_to_the_rule_without_measuring(guarded_bundle, cache, monkeypatch):
    import openvino as ov

    from bertvino.infer import precision

    monkeypatch.setattr(precision, "detect_capabilities", lambda core=None: VNNI_BF16)
    monkeypatch.setattr(autotune, "measure", lambda *args, **kwargs: pytest.fail("measured"))
    cache.write_text("a file where the cache directory should be")
    choice = choose_for_device(ov.Core(), "CPU", guarded_bundle, "auto", measure=True)
    assert choice.path == "bf16" and "not writable" in choice.reason and "flags" in choice.reason
    monkeypatch.setattr(autotune, "measure_and_save", lambda *args: ({"seq_per_s": {"f32": 2.0, "bf16": 1.0}}, ""))
    cache.unlink()
    assert choose_for_device(ov.Core(), "CPU", guarded_bundle, "auto", measure=True).path == "f32"  # measured
    assert choose_for_device(ov.Core(), "CPU", guarded_bundle, "auto").path == "bf16"  # classify never measures


@pytest.mark.parametrize("budget", [None, 64, 128, 256, 2048])
def test_score_batches_never_exceed_the_token_budget(budget):
    lengths = [5, 70, 12, 12, 33, 200, 8, 64, 64, 64, 3, 120] * 3
    id_lists = [[1] * n for n in lengths]
    batches = length_sorted_batches(id_lists, 8, budget)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 8
        padded = -(-longest // 32) * 32  # as AsyncBatches pads it
        assert budget is None or len(batch) * padded <= budget or len(batch) == 1  # a longer review goes alone
    if budget == 64:
        assert [lengths[i] for i in batches[-1]] == [200]


def test_score_pads_to_few_lengths_never_past_max_seq_length():
    """Few distinct shapes keep OpenVINO's per-shape kernels and buffers (score's memory) small."""
    from bertvino.core.features import LENGTH_STEP, stepped_length
    assert LENGTH_STEP == 32
    assert [stepped_length(n) for n in (1, 32, 33, 250)] == [32, 32, 64, 256]
    assert [stepped_length(n, 40) for n in (5, 33, 40)] == [32, 40, 40]  # capped at max_seq_length
    assert len({stepped_length(n, 256) for n in range(3, 257)}) == 8
