"""--precision: which path a CPU gets (its capabilities faked) before anything is measured, the accuracy guard of
int8 and bf16 (and `bertvino validate`, which writes it), $BERTVINO_PRECISION, and an INT8 IR made from an IR, as a
user quantizes the shipped model that has no frozen.pb. auto by measurement and its cache: tests/test_autotune.py."""

import hashlib
import json

import pytest

from bertvino.core.bundle import INT8_IR, load_bundle, record_path_accuracy
from bertvino.cli import main
from bertvino.core.errors import BertvinoError
from bertvino.infer.precision import PRECISION_ENV, Capabilities, choose_precision, guard, path_ir

AMX = Capabilities(cpu_flags=frozenset({"avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}),
                   openvino=frozenset({"FP32", "BF16", "INT8"}))  # Sapphire and Emerald Rapids
VNNI_BF16 = Capabilities(cpu_flags=frozenset({"avx512f", "avx512_vnni", "avx512_bf16"}),
                         openvino=frozenset({"FP32", "BF16", "INT8"}))  # Zen 4/5, Cooper Lake
VNNI_ONLY = Capabilities(cpu_flags=frozenset({"avx512f", "avx512_vnni"}), openvino=frozenset({"FP32", "INT8"}))
AVX_VNNI = Capabilities(cpu_flags=frozenset({"avx2", "avx_vnni"}), openvino=frozenset({"FP32", "INT8"}))
PLAIN_AVX2 = Capabilities(cpu_flags=frozenset({"avx2"}), openvino=frozenset({"FP32", "INT8"}))  # INT8 listed anyway
BF16_NO_VNNI = Capabilities(cpu_flags=frozenset({"avx2"}), openvino=frozenset({"FP32", "BF16", "INT8"}))

GOOD = {"reviews": 25000, "accuracy": 0.9110, "float_accuracy": 0.9118, "agreement": 0.992}


@pytest.fixture
def two_ir_bundle(fp32_bundle, copy_bundle):
    """A bundle with an INT8 IR beside the float one (placeholder files: the choice never reads them)."""
    path = copy_bundle(fp32_bundle)
    (path / "model-int8.xml").write_text("<net/>")
    (path / "model-int8.bin").write_bytes(b"")
    return path


def with_accuracy(path, paths=("int8",), **test):
    for name in paths:
        record_path_accuracy(load_bundle(path), name, {"test": test})
    return load_bundle(path)


def test_auto_takes_int8_on_a_vnni_cpu_when_the_guard_passes(two_ir_bundle):
    bundle = with_accuracy(two_ir_bundle, **GOOD)
    for capabilities, hint in ((VNNI_BF16, "bf16"), (VNNI_ONLY, "f32"), (AVX_VNNI, "f32")):
        choice = choose_precision(capabilities, bundle)
        assert (choice.path, choice.model_xml.name, choice.hint) == ("int8", INT8_IR, hint)
    assert "avx_vnni" in choose_precision(AVX_VNNI, bundle).reason


def test_the_capability_rule_knows_amx(two_ir_bundle):
    """Unmeasured, both guards passed: AMX -> bf16 (its bf16 beat NNCF's int8 there), VNNI without AMX -> int8,
    native bf16 without VNNI -> bf16, neither -> f32 (int8 without VNNI is no faster)."""
    bundle = with_accuracy(two_ir_bundle, paths=("int8", "bf16"), **GOOD)
    expected = [(AMX, ("bf16", "model.xml", "bf16")), (VNNI_BF16, ("int8", INT8_IR, "bf16")),
                (VNNI_ONLY, ("int8", INT8_IR, "f32")), (BF16_NO_VNNI, ("bf16", "model.xml", "bf16")),
                (PLAIN_AVX2, ("f32", "model.xml", "f32"))]
    for capabilities, path_ir_hint in expected:
        choice = choose_precision(capabilities, bundle)
        assert (choice.path, choice.model_xml.name, choice.hint) == path_ir_hint, capabilities
        assert "not measured" in choice.reason
    assert "amx_bf16" in choose_precision(AMX, bundle).reason


def test_every_non_f32_path_needs_its_guard(two_ir_bundle, fp32_bundle):
    unmeasured = choose_precision(VNNI_ONLY, load_bundle(two_ir_bundle))
    assert unmeasured.path == "f32" and "not been measured" in unmeasured.reason
    only_int8 = with_accuracy(two_ir_bundle, **GOOD)  # bf16 never measured
    assert choose_precision(AMX, only_int8).path == "int8"  # bf16 first on AMX, but only int8 is trusted
    f32 = choose_precision(BF16_NO_VNNI, only_int8)
    assert f32.path == "f32" and "bertvino validate" in f32.reason
    no_int8 = choose_precision(VNNI_BF16, load_bundle(fp32_bundle))
    assert no_int8.path == "f32" and "no INT8 IR" in no_int8.reason and "bf16" in no_int8.reason


def test_int8_runs_its_float_ops_in_bf16_only_where_bf16_is_native(two_ir_bundle):
    """The ops NNCF leaves in float (LayerNorm, softmax, adds) run in bf16 on CPUs with native bf16 (faster there
    at the same accuracy), in f32 elsewhere (emulated bf16 is slow), whether auto picks int8 or it is forced."""
    bundle = with_accuracy(two_ir_bundle, **GOOD)
    for capabilities, hint in ((AMX, "bf16"), (VNNI_BF16, "bf16"), (BF16_NO_VNNI, "bf16"), (VNNI_ONLY, "f32"),
                               (AVX_VNNI, "f32"), (PLAIN_AVX2, "f32")):
        forced = choose_precision(capabilities, bundle, "int8")
        assert (forced.model_xml.name, forced.hint) == (INT8_IR, hint), capabilities
        assert path_ir(bundle, "int8", capabilities.native_bf16) == (bundle.int8_xml, hint)
    assert path_ir(bundle, "bf16", False) == (bundle.model_xml, "bf16")  # the float paths keep their own
    assert path_ir(bundle, "f32", True) == (bundle.model_xml, "f32")


def test_the_guard_needs_enough_reviews(two_ir_bundle):
    bundle = with_accuracy(two_ir_bundle, paths=("bf16",), **{**GOOD, "reviews": 999})
    passed, why = guard(bundle, "bf16")
    assert not passed and "too few reviews" in why
    assert guard(with_accuracy(two_ir_bundle, paths=("bf16",), **{**GOOD, "reviews": 1000}), "bf16")[0]


@pytest.mark.parametrize("accuracy, agreement, passes", [
    (0.9088, 0.990, True),  # exactly 0.3 points lost, exactly 99 % agreement
    (0.9087, 0.999, False),  # 0.31 points lost
    (0.9118, 0.989, False),  # as accurate, but differs from the float labels on 1.1 %
    (0.9150, 0.995, True),  # better than float is fine
])
def test_the_guard_allows_0_3_points_and_needs_99_percent_agreement(two_ir_bundle, accuracy, agreement, passes):
    bundle = with_accuracy(two_ir_bundle, reviews=25000, accuracy=accuracy, float_accuracy=0.9118,
                           agreement=agreement)
    assert guard(bundle, "int8")[0] is passes
    assert (choose_precision(VNNI_ONLY, bundle).path == "int8") is passes
    bf16 = with_accuracy(two_ir_bundle, paths=("bf16",), reviews=25000, accuracy=accuracy, float_accuracy=0.9118,
                         agreement=agreement)  # bf16's guard is the same, from its own record
    assert guard(bf16, "bf16")[0] is passes


def test_forced_precisions(two_ir_bundle, fp32_bundle):
    bundle = load_bundle(two_ir_bundle)  # no accuracy recorded: forcing int8 still works
    assert choose_precision(PLAIN_AVX2, bundle, "int8").model_xml.name == INT8_IR
    f32 = choose_precision(VNNI_BF16, with_accuracy(two_ir_bundle, **GOOD), "f32")
    assert (f32.model_xml.name, f32.hint) == ("model.xml", "f32") and "--precision f32" in f32.reason
    assert choose_precision(VNNI_BF16, bundle, "bf16").hint == "bf16"
    assert "not native" in choose_precision(PLAIN_AVX2, bundle, "bf16").reason
    with pytest.raises(BertvinoError, match="has no INT8 IR.*--precision int8 --calibration"):
        choose_precision(VNNI_BF16, load_bundle(fp32_bundle), "int8")


def test_an_older_bundle_whose_only_ir_is_int8_runs_it(fp32_bundle, copy_bundle):
    path = copy_bundle(fp32_bundle)
    meta = json.loads((path / "bundle.json").read_text())
    meta["precision"] = "int8"
    del meta["irs"]
    (path / "bundle.json").write_text(json.dumps(meta))
    choice = choose_precision(PLAIN_AVX2, load_bundle(path))
    assert (choice.path, choice.model_xml.name) == ("int8", "model.xml")


def test_an_older_single_ir_bundle_loads_and_classifies(fp32_bundle, copy_bundle, capsys):
    path = copy_bundle(fp32_bundle)
    meta = json.loads((path / "bundle.json").read_text())
    del meta["irs"]
    (path / "bundle.json").write_text(json.dumps(meta))
    assert not load_bundle(path).has_int8_ir
    assert main(["classify", "-m", str(path), "--inference-precision", "f32", "--json", "A fine film."]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("negative", "positive")


def test_info_says_which_path_this_cpu_takes_and_why(fp32_bundle, capsys):
    assert main(["info", "-m", str(fp32_bundle), "--json"]) == 0
    on_this_cpu = json.loads(capsys.readouterr().out)["on_this_cpu"]
    assert on_this_cpu["precision_auto"] == "f32" and "no INT8 IR" in on_this_cpu["why"]
    assert set(on_this_cpu["guard"]) == {"bf16", "int8"}


def test_int8_from_an_ir_leaves_the_float_ir_and_records_how_it_was_made(fp32_bundle, copy_bundle, reviews_dir,
                                                                         capsys):
    pytest.importorskip("nncf")
    import numpy as np
    from bertvino.infer.classifier import Classifier

    path = copy_bundle(fp32_bundle)
    (path / "frozen.pb").unlink()  # as the shipped default: an IR, no frozen graph
    float_ir = hashlib.sha256((path / "model.bin").read_bytes()).hexdigest()
    assert main(["convert", str(path), "--precision", "int8", "--calibration", str(reviews_dir),
                 "--calibration-size", "16"]) == 0
    bundle = load_bundle(path)
    assert hashlib.sha256(bundle.model_bin.read_bytes()).hexdigest() == float_ir and bundle.precision == "fp32"
    record = bundle.ir_record(INT8_IR)
    assert record["made_from"] == "model.xml (FP32 IR)" and record["nncf"]["model_type"] == "TRANSFORMER"
    assert record["calibration"] == {**record["calibration"], "data": [reviews_dir.name], "split": None,
                                     "reviews": 16}
    assert "accuracy" not in record  # not measured yet, so auto does not trust it
    assert choose_precision(VNNI_BF16, bundle).path == "f32"

    int8, f32 = Classifier(bundle, precision="int8"), Classifier(bundle, precision="f32")
    assert int8.choice.model_xml == bundle.int8_xml and f32.choice.model_xml == bundle.model_xml
    texts = ["A wonderful, moving film.", "Dull and far too long."]
    difference = np.abs(int8.pooled([int8.encode(t) for t in texts]) - f32.pooled([f32.encode(t) for t in texts]))
    assert 0 < difference.max() < 0.3  # quantized (not the float IR again), and close on a tiny random model


def test_int8_calibration_split_with_no_reviews_is_a_one_line_error(fp32_bundle, copy_bundle, reviews_dir, capsys):
    pytest.importorskip("nncf")
    path = copy_bundle(fp32_bundle)
    assert main(["convert", str(path), "--precision", "int8", "--calibration", str(reviews_dir),
                 "--calibration-split", "nosuchsplit"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no reviews" in err and not load_bundle(path).has_int8_ir


def test_the_environment_variable_picks_a_path_and_the_flag_wins(two_ir_bundle, monkeypatch):
    bundle = with_accuracy(two_ir_bundle, **GOOD)
    monkeypatch.setenv(PRECISION_ENV, "f32")
    choice = choose_precision(VNNI_ONLY, bundle, None)
    assert choice.path == "f32" and PRECISION_ENV in choice.reason
    assert choose_precision(VNNI_ONLY, bundle, "int8").path == "int8"  # --precision beats the variable
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(BertvinoError, match=f"{PRECISION_ENV}='fp16'"):
        choose_precision(VNNI_ONLY, bundle, None)


def test_classify_says_in_one_stderr_line_which_path_ir_and_why(fp32_bundle, capsys, monkeypatch):
    assert main(["classify", "-m", str(fp32_bundle), "--precision", "f32", "A fine film."]) == 0
    assert capsys.readouterr().err == "bertvino classify: f32 (model.xml): asked for (--precision f32)\n"
    monkeypatch.setenv(PRECISION_ENV, "f32")
    assert main(["classify", "-m", str(fp32_bundle), "A fine film."]) == 0
    assert capsys.readouterr().err == f"bertvino classify: f32 (model.xml): asked for ({PRECISION_ENV}=f32)\n"


def test_validate_records_bf16s_accuracy_where_the_guard_reads_it(fp32_bundle, copy_bundle, reviews_dir, capsys,
                                                                   monkeypatch):
    import bertvino.infer.precision as precision
    path = copy_bundle(fp32_bundle)
    monkeypatch.setattr(precision, "MIN_REVIEWS", 10)  # the tiny review set has 48
    assert main(["validate", "-m", str(path), "--data", str(reviews_dir), "--precision", "bf16",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bf16: ") and "guard passed" in out
    bundle = load_bundle(path)
    record = bundle.path_accuracy("bf16")["test"]
    assert record["reviews"] == 48 and record["data"] == reviews_dir.name and 0 <= record["accuracy"] <= 1
    assert record["agreement"] >= 0.99 and record["float_path"] == "model.xml in f32 arithmetic"
    assert guard(bundle, "bf16")[0] and not bundle.path_accuracy("int8")
    assert choose_precision(BF16_NO_VNNI, bundle).path == "bf16"  # now trusted


def test_convert_int8_with_validate_records_the_guard_in_one_command(fp32_bundle, copy_bundle, reviews_dir, capsys,
                                                                       monkeypatch):
    pytest.importorskip("nncf")
    import bertvino.infer.precision as precision
    monkeypatch.setattr(precision, "MIN_REVIEWS", 10)  # the tiny review set has 48
    path = copy_bundle(fp32_bundle)
    code = main(["convert", str(path), "--precision", "int8", "--calibration", str(reviews_dir),
                 "--calibration-size", "16", "--validate", str(reviews_dir)])
    assert code in (0, 3)  # 3: the tiny random model's INT8 IR may miss the guard, which is then said
    out = capsys.readouterr().out
    bundle = load_bundle(path)
    record = bundle.path_accuracy("int8")["test"]
    assert record["reviews"] == 48 and record["data"] == reviews_dir.name
    passed = guard(bundle, "int8")[0]
    assert (code == 0) is passed and ("int8: " in out and ("guard passed" if passed else "NOT passed") in out)
