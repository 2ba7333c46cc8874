"""Calibrated probabilities: the fit, the metrics, every path applying the bundle's calibration, `calibrate`,
`score --plot`, and long texts read whole in windows."""

import contextlib
import csv
import io
import json

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.core.bundle import load_bundle, update_calibration
from bertvino.core.errors import BertvinoError
from bertvino.core.features import Windows
from bertvino.core.reviews import read_reviews
from bertvino.infer import calibration, metrics
from bertvino.infer.classifier import Classifier

TEXTS = ["the movie was good and brilliant", "awful", "it was a film , and the plot was very bad and the acting "
         "was terrible , dull and boring", "loved it", "great great great"]
# T(n) = exp(a + b ln n): strongly length-dependent, so a path that passes the wrong lengths gets other numbers.
RECORD = {"method": "length_temperature", "parameters": {"a": 0.5, "b": 0.4}}


def temperature(n):
    return np.exp(RECORD["parameters"]["a"] + RECORD["parameters"]["b"] * np.log(n))


# --- the fit and the metrics -------------------------------------------------------------------------------------

def sampled(temperatures, seed=0, n=40_000):
    """Logits, and labels drawn from softmax(logits / T): data whose best temperature is T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (n, 3))
    p = calibration.softmax(logits / np.broadcast_to(temperatures, (n,))[:, None])
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return logits, labels


def test_a_fit_on_synthetic_logits_recovers_a_known_temperature():
    logits, labels = sampled(2.5)
    fitted = calibration.fit(logits, labels, np.full(len(labels), 40), method="temperature")
    assert fitted.parameters()["temperature"] == pytest.approx(2.5, rel=0.03)
    assert calibration.fit(logits, labels, np.full(len(labels), 40), method="temperature").theta == fitted.theta


def test_a_fit_recovers_a_temperature_that_grows_with_length():
    lengths = np.random.default_rng(1).integers(4, 257, 40_000)
    logits, labels = sampled(np.exp(0.2 + 0.3 * np.log(lengths)))
    fitted = calibration.fit(logits, labels, lengths, method="length_temperature")
    assert fitted.parameters()["a"] == pytest.approx(0.2, abs=0.1)
    assert fitted.parameters()["b"] == pytest.approx(0.3, abs=0.03)
    buckets = calibration.fit(logits, labels, lengths, method="bucket_temperature", edges=(16, 64))
    t = buckets.parameters()["temperatures"]
    assert t[0] < t[1] < t[2]  # one-liners get a lower T here, as the data says


def test_a_bucket_of_too_few_texts_keeps_a_temperature_of_one():
    """Each bucket's own data says T = 0.5 (short) or 3 (long); the short bucket has one text fewer than the 200
    (calibration.MIN_BUCKET_TEXTS) a bucket needs to be fitted."""
    short_logits, short_labels = sampled(0.5, seed=2, n=199)
    long_logits, long_labels = sampled(3.0, seed=3)
    lengths = np.r_[np.full(len(short_labels), 10), np.full(len(long_labels), 200)]
    fitted = calibration.fit(np.r_[short_logits, long_logits], np.r_[short_labels, long_labels], lengths,
                             method="bucket_temperature", edges=(16,))
    short_t, long_t = fitted.parameters()["temperatures"]
    assert short_t == 1.0 and long_t == pytest.approx(3.0, rel=0.05)
    one_more_logits, one_more_labels = sampled(0.5, seed=2, n=200)
    refitted = calibration.fit(np.r_[one_more_logits, long_logits], np.r_[one_more_labels, long_labels],
                               np.r_[np.full(len(one_more_labels), 10), np.full(len(long_labels), 200)],
                               method="bucket_temperature", edges=(16,))
    assert refitted.parameters()["temperatures"][0] < 0.8  # with enough texts, the short bucket is fitted


def test_a_record_round_trips_and_bad_ones_are_refused():
    for record in (RECORD, {"method": "temperature", "parameters": {"temperature": 1.8}},
                   {"method": "bucket_temperature", "parameters": {"edges": [16, 64], "temperatures": [4, 3, 2]}}):
        assert calibration.Calibration.from_record(record).to_record() == record
    for bad in ({"method": "platt"}, {"method": "temperature", "parameters": {"temperature": -1}},
                {"method": "bucket_temperature", "parameters": {"edges": [16], "temperatures": [1]}}):
        with pytest.raises(calibration.BertvinoError):
            calibration.Calibration.from_record(bad)


def test_ece_nll_and_brier_by_hand():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    gold = np.array([0, 1, 1, 0])
    # bins of the top probability: 0.9 (right), 0.8 (wrong), 0.7 (right), 0.55 (wrong): each alone in its bin
    assert metrics.ece(p, gold) == pytest.approx((0.1 + 0.8 + 0.3 + 0.55) / 4)
    assert metrics.nll(p, gold) == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 0.45])))
    assert metrics.brier(p, gold) == pytest.approx(np.mean([0.02, 1.28, 0.18, 0.605]))
    two_halves = metrics.Reliability()
    two_halves.add(p[:2], gold[:2])
    two_halves.add(p[2:], gold[2:])
    assert two_halves.report() == metrics.Reliability.of(p, gold).report()


# --- every path applies the bundle's calibration -----------------------------------------------------------------

@pytest.fixture(scope="module")
def calibrated_bundle(fp32_bundle, tmp_path_factory):
    import shutil
    path = shutil.copytree(fp32_bundle, tmp_path_factory.mktemp("calibrated") / "bundle")
    update_calibration(load_bundle(path), RECORD)
    return path


@pytest.fixture(scope="module")
def by_hand(fp32_bundle):
    """softmax(logits / T(n)) per text, from the uncalibrated bundle's logits, each text run alone."""
    plain = Classifier(load_bundle(fp32_bundle))

    def expected(texts):
        result = {}
        for text in texts:
            ids = plain.encode(text)
            logits = plain.logits(plain.pooled([ids]))[0].astype(np.float64)
            result[text] = np.exp(logits / temperature(len(ids))) / np.exp(logits / temperature(len(ids))).sum()
            uncalibrated = np.exp(logits) / np.exp(logits).sum()
            assert np.abs(result[text] - uncalibrated).max() > 1e-3  # so a path that skips calibration fails
        return result
    return expected


def assert_matches(got: dict, want: dict):
    assert sorted(got) == sorted(want)
    for text, probabilities in got.items():
        np.testing.assert_allclose(probabilities, want[text], atol=2e-5, err_msg=text)


def test_the_python_api_applies_it(calibrated_bundle, by_hand):
    classifier = Classifier(load_bundle(calibrated_bundle))
    got = {text: list(p.probabilities.values()) for text, p in zip(TEXTS, classifier.predict(TEXTS))}
    assert_matches(got, by_hand(TEXTS))


def test_classify_applies_it(calibrated_bundle, by_hand, capsys):
    assert main(["classify", "--json", "-m", str(calibrated_bundle), *TEXTS]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert_matches({line["text"]: list(line["probabilities"].values()) for line in lines}, by_hand(TEXTS))


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    """TEXTS as labelled reviews (pos/), one file each."""
    root = tmp_path_factory.mktemp("texts")
    (root / "pos").mkdir()
    for i, text in enumerate(TEXTS):
        (root / "pos" / f"{i}_9.txt").write_text(text)
    return root


def rows_by_text(rows_file, folder):
    texts = {review.source: review.text for review in read_reviews(folder)}
    with open(rows_file, newline="") as file:
        rows = list(csv.DictReader(file)) if rows_file.suffix == ".csv" else [json.loads(line) for line in file]
    return {texts[row["source"]]: [float(row["p_negative"]), float(row["p_positive"])] for row in rows}


def test_score_applies_it_and_measures_calibration(calibrated_bundle, by_hand, text_folder, tmp_path, capsys):
    out, report = tmp_path / "rows.csv", tmp_path / "metrics.json"
    assert main(["score", str(text_folder), "-m", str(calibrated_bundle), "-o", str(out), "--metrics-json",
                 str(report), "--no-progress", "--batch-size", "2"]) == 0
    expected = by_hand(TEXTS)
    assert_matches(rows_by_text(out, text_folder), expected)
    got = json.loads(report.read_text())["metrics"]["calibration"]
    probabilities = np.array([expected[text] for text in TEXTS])
    gold = np.ones(len(TEXTS), dtype=int)  # every text is in pos/
    assert got["ece"] == pytest.approx(metrics.ece(probabilities, gold), abs=1e-4)
    assert got["nll"] == pytest.approx(metrics.nll(probabilities, gold), abs=1e-4)
    assert got["brier"] == pytest.approx(metrics.brier(probabilities, gold), abs=1e-4)
    assert sum(b["count"] for b in got["bins"]) == len(TEXTS)
    assert "calibration: ECE" in capsys.readouterr().err


def test_serve_applies_it(calibrated_bundle, by_hand):
    pytest.importorskip("starlette")
    from test_serve import serving
    from bertvino.client import Client
    from bertvino.infer.server import Limits, create_app

    app = create_app(Classifier(load_bundle(calibrated_bundle), performance_hint="THROUGHPUT"), "tiny", Limits(),
                     max_batch_size=8, max_wait_ms=20)
    with serving(app) as port:
        answers = Client(port=port, model_name="tiny").classify(TEXTS)
    assert_matches({text: list(a["probabilities"].values()) for text, a in zip(TEXTS, answers)}, by_hand(TEXTS))


def test_score_on_ray_applies_it(calibrated_bundle, by_hand, text_folder, tmp_path):
    ray = pytest.importorskip("ray")
    out = tmp_path / "rows.jsonl"
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            assert main(["score", str(text_folder), "-m", str(calibrated_bundle), "-o", str(out), "--no-progress",
                         "--batch-size", "2", "--ray"]) == 0
    finally:
        ray.shutdown()
    assert_matches(rows_by_text(out, text_folder), by_hand(TEXTS))


def test_an_uncalibrated_bundle_loads_and_gives_the_models_own_probabilities(fp32_bundle, capsys):
    bundle = load_bundle(fp32_bundle)
    assert bundle.calibration_record is None and bundle.long_texts == "truncate"
    classifier = Classifier(bundle)
    assert classifier.calibration is None
    ids = classifier.encode(TEXTS[0])
    logits = classifier.logits(classifier.pooled([ids]))[0]
    np.testing.assert_allclose(list(classifier.predict(TEXTS[:1])[0].probabilities.values()),
                               np.exp(logits) / np.exp(logits).sum(), atol=1e-6)
    assert main(["info", "-m", str(fp32_bundle)]) == 0
    assert "calibrated: no" in capsys.readouterr().out


def test_info_says_how_a_bundle_is_calibrated(calibrated_bundle, capsys):
    assert main(["info", "-m", str(calibrated_bundle)]) == 0
    assert "calibrated: yes: temperature by length, T(n) = exp(0.500 +0.400 ln n)" in capsys.readouterr().out


# --- calibrate and score --plot ----------------------------------------------------------------------------------

def test_calibrate_fits_records_and_every_path_then_uses_it(fp32_bundle, reviews_dir, copy_bundle, capsys):
    bundle = copy_bundle(fp32_bundle)
    assert main(["calibrate", str(bundle), "--data", str(reviews_dir), "--method", "temperature",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Calibrated {bundle} on 48 reviews: temperature scaling, T = ") and "nll" in out
    record = load_bundle(bundle).calibration_record
    assert record["method"] == "temperature" and record["fitted_on"]["texts"] == 48
    assert record["fitted_on"]["long_texts"] == "truncate"  # what its logits were read with
    assert record["after"]["nll"] <= record["before"]["nll"]  # the fit minimizes exactly this
    assert Classifier(load_bundle(bundle)).calibration.parameters() == record["parameters"]


def test_score_plot_draws_the_reliability_diagram(fp32_bundle, reviews_dir, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "reliability.png"
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(tmp_path / "rows.csv"),
                 "--no-progress", "--plot", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_score_plot_of_unlabelled_reviews_is_an_error_after_the_rows(fp32_bundle, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    (tmp_path / "review.txt").write_text("a film without a label")
    png = tmp_path / "reliability.png"
    assert main(["score", str(tmp_path / "review.txt"), "-m", str(fp32_bundle), "-o", str(tmp_path / "rows.csv"),
                 "--no-progress", "--plot", str(png)]) == 1
    assert f"error: {png}: not drawn: no scored review has a gold label" in capsys.readouterr().err
    assert not png.exists() and (tmp_path / "rows.csv").stat().st_size > 0


# --- long texts read whole ---------------------------------------------------------------------------------------

def test_windows_cover_every_piece_and_end_at_the_text_end():
    ids = [101, *range(1000, 1045), 102]  # 45 pieces; windows of 30 pieces (max_seq_length 32), stride 8
    rows, owners = Windows(8).rows([[101, 7, 102], ids], 32)
    assert rows[0] == [101, 7, 102] and list(owners) == [0, 1, 1, 1]
    starts = [row[1] - 1000 for row in rows[1:]]
    assert starts == [0, 8, 15]  # every 8 pieces, the last window ending at the last piece
    assert all(len(row) == 32 and row[0] == 101 and row[-1] == 102 for row in rows[1:])


def test_windowed_scoring_is_the_mean_of_the_windows_logits(fp32_bundle, copy_bundle, tmp_path):
    from bertvino.core.bundle import update_metadata
    bundle = copy_bundle(fp32_bundle)
    update_metadata(load_bundle(bundle, require_ir=False), long_texts="windows:8")
    long_text = " ".join(["the movie was good and brilliant but the plot was very bad"] * 6)
    windowed = Classifier(load_bundle(bundle))
    assert str(windowed.reading) == "windows:8"
    ids = windowed.encode(long_text)
    assert len(ids) > 60  # read whole: nothing truncated
    plain = Classifier(load_bundle(fp32_bundle))
    rows, _ = Windows(8).rows([ids], 32)
    logits = np.mean([plain.logits(plain.pooled([row]))[0] for row in rows], axis=0)
    want = np.exp(logits) / np.exp(logits).sum()
    got = windowed.predict([long_text, "short"])
    np.testing.assert_allclose(list(got[0].probabilities.values()), want, atol=1e-5)
    assert abs(got[0].probabilities["positive"] - plain.predict([long_text])[0].probabilities["positive"]) > 1e-4
    np.testing.assert_allclose(list(got[1].probabilities.values()),
                               list(plain.predict(["short"])[0].probabilities.values()), atol=1e-6)
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "1_9.txt").write_text(long_text)
    out = tmp_path / "rows.jsonl"
    assert main(["score", str(tmp_path / "pos"), "-m", str(bundle), "-o", str(out), "--no-progress"]) == 0
    row = json.loads(out.read_text())
    np.testing.assert_allclose([row["p_negative"], row["p_positive"]], want, atol=1e-5)


def test_a_second_look_reads_only_the_unsure_long_texts_again():
    from bertvino.core.features import SecondLook, reading
    look = reading("head+tail:4", "windows:8,below:0.9", 32)
    assert isinstance(look, SecondLook) and str(look) == "windows:8,below:0.9"
    short, long = [101, 7, 102], [101, *range(1000, 1045), 102]
    first, owners = look.rows([short, long], 32)
    assert first[0] == short and owners is None
    assert first[1] == [101, 1000, 1001, 1002, 1003, *range(1045 - 26, 1045), 102]  # head+tail, as trained
    assert look.unsure([short, long, long], [0.5, 0.95, 0.6], 32) == [2]  # long and below 0.9 only
    rows, owners = look.second_rows([long], 32)
    assert rows == Windows(8).rows([long], 32)[0] and list(owners) == [0, 0, 0]
    merged = look.merge_second(np.array([[3.0, 0.0]]), np.array([[1.0, 4.0], [1.0, 0.0], [3.0, 0.0]]), owners)
    np.testing.assert_allclose(merged, [[2.0, 1.0]])  # the first read and its windows, averaged
    for spec in ("windows:8,below:0", "windows:8,below:1.5", "windows:8,below:x", "windows:40,below:0.9"):
        with pytest.raises(BertvinoError):
            reading("head", spec, 32)


def test_a_second_look_answers_from_both_reads_on_every_path(fp32_bundle, copy_bundle, tmp_path):
    """classify (sync) and score (AsyncBatches, as serve and score --ray run it): a long text whose first read is
    unsure gets the mean of its first read's and its windows' logits; one the first read is sure of keeps it."""
    from bertvino.core.bundle import update_metadata
    texts = [" ".join(["the movie was good and brilliant but the plot was very bad"] * 6),
             " ".join(["awful dull boring acting , a terrible film"] * 9), "short"]
    plain = Classifier(load_bundle(fp32_bundle))  # truncation as trained, nothing read twice
    first_logits = plain.logits(plain.pooled(plain.encode_batch(texts)))
    top = calibration.softmax(first_logits).max(axis=1)
    assert abs(top[0] - top[1]) > 1e-4
    below = float(np.mean(top[:2]))  # one long text unsure, the other sure
    unsure = int(np.argmin(top[:2]))
    bundle = copy_bundle(fp32_bundle)
    update_metadata(load_bundle(bundle, require_ir=False), long_texts=f"windows:8,below:{below!r}")
    looking = Classifier(load_bundle(bundle))
    whole = looking.encode(texts[unsure])
    rows, _ = Windows(8).rows([whole], 32)
    assert len(rows) > 1
    window_logits = plain.logits(plain.pooled(rows))
    want = calibration.softmax(np.mean([first_logits[unsure], *window_logits], axis=0)[None])[0]
    expected = calibration.softmax(first_logits)
    expected[unsure] = want
    got = np.array([list(p.probabilities.values()) for p in looking.predict(texts)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.abs(got[unsure] - calibration.softmax(first_logits)[unsure]).max() > 1e-4  # it did read again
    for index, text in enumerate(texts):
        (tmp_path / "pos").mkdir(exist_ok=True)
        (tmp_path / "pos" / f"{index}_9.txt").write_text(text)
    for budget in ("2048", "32"):  # 32 tokens: every window its own batch, a reread finishing in parts
        out = tmp_path / f"rows-{budget}.jsonl"
        assert main(["score", str(tmp_path / "pos"), "-m", str(bundle), "-o", str(out), "--no-progress",
                     "--max-batch-tokens", budget]) == 0
        rows = {json.loads(line)["source"].rsplit("/", 1)[-1]: json.loads(line)
                for line in out.read_text().splitlines()}
        for index in range(len(texts)):
            np.testing.assert_allclose([rows[f"{index}_9.txt"]["p_negative"], rows[f"{index}_9.txt"]["p_positive"]],
                                       expected[index], atol=1e-5)


def test_the_default_model_is_calibrated_on_validation_reviews_and_leaves_one_liners_as_trained():
    """v5 (as v3 and v4) is calibrated by `bertvino calibrate` on the 5,000 validation reviews (benchmarks/validation_split.py),
    never on test. Fewer than 200 of them are under 64 word pieces, so those buckets keep T = 1: the model's own
    confidence, which the hand-written one-liners of short_reviews_dev found right (docs/calibration.md)."""
    from bertvino.models import find_model
    bundle = load_bundle(find_model(None))
    record = bundle.calibration_record
    assert record["fitted_on"]["data"] == ["aclImdb-train-validation"] and record["fitted_on"]["texts"] == 5000
    assert record["after"]["nll"] < record["before"]["nll"] and record["after"]["ece"] < record["before"]["ece"]
    fitted = calibration.Calibration.from_record(record)
    one_liner, review = fitted.temperatures([12, 256])
    assert one_liner == 1.0 and review > 1.2


def test_the_training_teacher_vets_snippets_with_the_models_own_probabilities(fp32_bundle, calibrated_bundle):
    from bertvino.train.snippets import teacher_keeps
    labels = np.array([1, 0, 0, 1, 1])
    plain = teacher_keeps(fp32_bundle, TEXTS, labels, ("negative", "positive"), threshold=0.9)
    assert plain.any()  # else the comparison below says nothing
    np.testing.assert_array_equal(teacher_keeps(calibrated_bundle, TEXTS, labels, ("negative", "positive"),
                                                threshold=0.9), plain)
