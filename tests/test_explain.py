"""Word-level explanations: spans that map back to the text, one batched inference per text, the signs on a
constructed model, classify/score --explain output (JSON, terminal colours, plain text), serve's :explain, and the
page at / in a real browser (headless Chromium)."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.core.bundle import load_bundle
from bertvino.infer.classifier import Classifier
from bertvino.infer.explain import annotated, coloured, explain, occlusions, score_text, word_spans

TEXTS = ["the movie was good and brilliant", "awful , boring and dull !", "it was a film",
         "Terrible acting, but a wonderful, moving story.", "  l'acting  était   superb\u00e9 ! 🎬 ok  ",
         "this film is unboringly good"]


@pytest.fixture(scope="module")
def classifier(fp32_bundle):
    return Classifier(load_bundle(fp32_bundle), precision="f32")


# --- words and variants ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", TEXTS + ["", "!!", "good", "a\u200bb c", "中文 good"])
def test_spans_are_the_words_of_the_text(text):
    spans = word_spans(text)
    assert spans == sorted(spans) and all(start < end for start, end in spans)
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert end <= next_start
    words = [text[start:end] for start, end in spans]
    assert all(not any(c.isspace() or c in ",.!?'" for c in word) for word in words)
    # every character outside a word is whitespace or punctuation
    inside = {index for start, end in spans for index in range(start, end)}
    assert all(text[i].isspace() or not text[i].isalnum() for i in range(len(text)) if i not in inside)


@pytest.mark.parametrize("method", ["delete", "mask", "pad"])
def test_the_first_variant_is_the_text_as_classify_sees_it(classifier, method):
    for occlusion, text in zip(occlusions(classifier, TEXTS, method), TEXTS):
        assert occlusion.id_lists[0] == classifier.encode(text)
        assert len(occlusion.id_lists) == 1 + len(occlusion.varied)


def test_a_variant_leaves_out_exactly_its_words_pieces(classifier):
    text = "the films were boringly good"  # films: film ##s; boringly: boring ##ly (the tiny vocab)
    delete, mask = (occlusions(classifier, [text], method)[0] for method in ("delete", "mask"))
    tokenizer = classifier.tokenizer
    for word_index, deleted, masked in zip(delete.varied, delete.id_lists[1:], mask.id_lists[1:]):
        start, end = delete.spans[word_index]
        pieces = tokenizer.piece_ids([text[start:end]])[0]
        assert len(deleted) == len(delete.id_lists[0]) - len(pieces)
        assert len(masked) == len(mask.id_lists[0])
        assert masked.count(tokenizer.vocab["[MASK]"]) == len(pieces)


def test_truncated_words_get_no_score_and_no_variant(classifier):
    text = " ".join(["good"] * 60)  # the tiny bundle keeps 30 word pieces
    occlusion = occlusions(classifier, [text])[0]
    assert len(occlusion.varied) == classifier.bundle.max_seq_length - 2
    words = explain(classifier, [text])[0].words
    assert [word.score is None for word in words] == [index >= 30 for index in range(60)]


class CountingModel:
    """Stands in for the compiled model: counts the calls and the rows of each."""

    def __init__(self, compiled):
        self.compiled, self.rows = compiled, []

    def __call__(self, inputs):
        self.rows.append(len(inputs["input_ids"]))
        return self.compiled(inputs)

    def output(self, name):
        return self.compiled.output(name)


def test_each_text_is_one_batched_inference(fp32_bundle):
    classifier = Classifier(load_bundle(fp32_bundle), precision="f32")
    counting = CountingModel(classifier.compiled)
    classifier.compiled = counting
    explanations = explain(classifier, TEXTS[:3])
    assert counting.rows == [1 + sum(w.score is not None for w in e.words) for e in explanations]
    assert counting.rows == [7, 5, 5]


def test_scores_are_the_drop_in_the_labels_probability(classifier):
    text = TEXTS[0]
    explanation = explain(classifier, [text])[0]
    label = explanation.prediction.label
    assert explanation.prediction == classifier.predict([text])[0]
    for word in explanation.words:
        without = text[:word.start] + text[word.end:]
        alone = classifier.predict([without])[0].probabilities[label]
        assert word.score == pytest.approx(explanation.prediction.probabilities[label] - alone, abs=1e-5)


class BagOfWords:
    """A constructed classifier: logit(positive) - logit(negative) = #positive words - #negative words, so the signs
    of every word's score are known."""

    def __init__(self, real):
        self.tokenizer, self.bundle, self.reading = real.tokenizer, real.bundle, real.reading
        vocab = real.tokenizer.vocab
        self.good = {vocab[w] for w in ("good", "great", "wonderful")}
        self.bad = {vocab[w] for w in ("bad", "awful", "terrible")}

    def pooled(self, id_lists):
        return np.array([[sum(i in self.good for i in ids) - sum(i in self.bad for i in ids)] for ids in id_lists],
                        dtype=np.float32)

    def lengths(self, id_lists):
        return np.array([len(ids) for ids in id_lists])

    def probabilities(self, pooled, lengths):
        logits = np.concatenate([-pooled, pooled], axis=1)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["delete", "mask", "pad"])
def test_signs_on_a_constructed_model(classifier, method):
    explanation = explain(BagOfWords(classifier), ["good and great , but a bad plot"], method)[0]
    assert explanation.prediction.label == classifier.bundle.labels[1]
    scores = {word.text: word.score for word in explanation.words}
    assert scores["good"] > 0 and scores["great"] > 0 and scores["bad"] < 0
    assert scores["and"] == scores["plot"] == 0


# --- classify and score --explain -------------------------------------------------------------------------------

def bertvino(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "bertvino", *args], input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_classify_explain_json_gives_words_spans_and_scores(fp32_bundle, classifier):
    result = bertvino("classify", "-m", str(fp32_bundle), "--precision", "f32", "--explain", "--json", *TEXTS)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == TEXTS
    for row, expected in zip(rows, explain(classifier, TEXTS)):
        assert set(row) == {"text", "label", "probabilities", "method", "words"}
        assert row["label"] == expected.prediction.label and row["method"] == "delete"
        assert [set(word) for word in row["words"]] == [{"word", "start", "end", "score"}] * len(row["words"])
        assert [row["text"][w["start"]:w["end"]] for w in row["words"]] == [w["word"] for w in row["words"]]
        assert [w["score"] for w in row["words"]] == pytest.approx([w.score for w in expected.words], abs=1e-5)


def test_classify_explain_is_plain_text_off_a_terminal(fp32_bundle, classifier):
    result = bertvino("classify", "-m", str(fp32_bundle), "--precision", "f32", "--explain", TEXTS[3])
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.split()[0] == explain(classifier, [TEXTS[3]])[0].prediction.label
    assert "\x1b[" not in result.stdout
    assert second.strip() == annotated(explain(classifier, [TEXTS[3]])[0])
    assert second.strip().startswith("Terrible(") and "), but(" in second and second.strip().endswith(").")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_classify_explain_is_coloured_on_a_terminal(fp32_bundle, monkeypatch, classifier):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["classify", "-m", str(fp32_bundle), "--precision", "f32", "--explain", TEXTS[0]]) == 0
    explanation = explain(classifier, [TEXTS[0]])[0]
    line = sys.stdout.getvalue().splitlines()[1]
    assert line.strip() == coloured(explanation)
    strongest = max(explanation.words, key=lambda w: abs(w.score))
    colour = "32" if strongest.score > 0 else "31"
    assert f"\x1b[1;{colour}m{strongest.text}\x1b[0m" in line
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["classify", "-m", str(fp32_bundle), "--precision", "f32", "--explain", TEXTS[0]]) == 0
    assert "\x1b[" not in sys.stdout.getvalue()


def test_score_text_keeps_the_size_of_tiny_scores():
    assert [score_text(s) for s in (0.123, -0.5, 0.0, -0.0003, 0.004)] == ["+0.12", "-0.50", "+0.00", "-3e-04",
                                                                            "+4e-03"]


def test_coloured_text_hides_terminal_controls():
    from bertvino.infer.classifier import Prediction
    from bertvino.infer.explain import Explanation, Word
    text = "bad\x1b[2J good"
    explanation = Explanation(text, Prediction("positive", {}), [Word("good", 8, 12, 0.5)], "delete")
    assert "\x1b[2J" not in coloured(explanation) and "\x1b[2J" not in annotated(explanation)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_score_explain_adds_top_words(fp32_bundle, reviews_dir, tmp_path, classifier, suffix):
    output = tmp_path / f"rows{suffix}"
    result = bertvino("score", str(reviews_dir), "-m", str(fp32_bundle), "--precision", "f32", "--explain",
                      "--no-progress", "--batch-size", "4", "-o", str(output))
    assert result.returncode == 0, result.stderr
    if suffix == ".csv":
        rows = list(csv.DictReader(output.open()))
    else:
        rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 48 and list(rows[0])[-1] == "top_words"
    from bertvino.core.reviews import read_reviews
    texts = {review.source: review.text for review in read_reviews(reviews_dir)}
    for row in rows[:6]:
        expected = explain(classifier, [texts[row["source"]]])[0]
        assert row["label"] == expected.prediction.label
        top = expected.top(5)
        if suffix == ".csv":
            assert row["top_words"] == " ".join(f"{w.text}({score_text(w.score)})" for w in top)
        else:
            assert [w["word"] for w in row["top_words"]] == [w.text for w in top]


# --- the default model ------------------------------------------------------------------------------------------

def test_default_model_gives_terrible_and_wonderful_opposite_signs():
    from bertvino.models import find_model
    classifier = Classifier(load_bundle(find_model(None)))
    words = {w.text.lower(): w.score for w in explain(classifier, ["Terrible acting, but a wonderful, moving "
                                                                   "story."])[0].words}
    assert words["terrible"] * words["wonderful"] < 0


# --- serve ------------------------------------------------------------------------------------------------------

pytest.importorskip("starlette")
from test_serve import MODEL, http, metric_samples, serving  # noqa: E402

from bertvino.infer.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def server(fp32_bundle):
    classifier = Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT", precision="f32")
    app = create_app(classifier, MODEL, max_batch_size=8, max_wait_ms=20)
    with serving(app) as port:
        yield SimpleNamespace(port=port, app=app)


def post_explain(port, body):
    status, _, answer = http(port, "POST", f"/v1/models/{MODEL}:explain", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
    return status, json.loads(answer)


def test_serve_explain_answers_as_explain_does(server, classifier):
    before = metric_samples(server.port)
    status, answer = post_explain(server.port, {"instances": TEXTS})
    assert status == 200
    after = metric_samples(server.port)
    for got, expected in zip(answer["explanations"], explain(classifier, TEXTS)):
        assert got["label"] == expected.prediction.label
        assert got["probabilities"] == pytest.approx(expected.prediction.probabilities, abs=1e-5)
        assert [(w["word"], w["start"], w["end"]) for w in got["words"]] == [(w.text, w.start, w.end)
                                                                           for w in expected.words]
        assert [w["score"] for w in got["words"]] == pytest.approx([w.score for w in expected.words], abs=1e-5)
    rows = sum(len(o.id_lists) for o in occlusions(classifier, TEXTS))
    count = ("bertvino_batch_size_sum", ())
    assert after[count] - before[count] == rows  # every variant went through the batcher
    explained = ("bertvino_requests_total", (("endpoint", "explain"), ("status", "200")))
    assert after[explained] - before.get(explained, 0) == 1


def test_the_v2_infer_requests_explain_parameter_adds_the_explanation(server):
    """KServe v2 infer with "parameters": {"explain": true}: the outputs of a plain infer, plus `explanation`, one
    JSON string per text, equal to what :explain answers for the same texts."""
    def infer(parameters):
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}],
                **({"parameters": parameters} if parameters is not None else {})}
        status, _, answer = http(server.port, "POST", f"/v2/models/{MODEL}/infer", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
        return status, json.loads(answer)

    status, plain = infer(None)
    assert status == 200 and [o["name"] for o in plain["outputs"]] == ["label", "probabilities"]
    status, explained = infer({"explain": True})
    assert status == 200
    outputs = {o["name"]: o for o in explained["outputs"]}
    assert list(outputs) == ["label", "probabilities", "explanation"]
    assert outputs["label"]["data"] == next(o for o in plain["outputs"] if o["name"] == "label")["data"]
    assert outputs["probabilities"]["data"] == pytest.approx(
        next(o for o in plain["outputs"] if o["name"] == "probabilities")["data"], abs=1e-5)
    assert outputs["explanation"]["datatype"] == "BYTES" and outputs["explanation"]["shape"] == [len(TEXTS)]
    _, v1 = post_explain(server.port, {"instances": TEXTS})
    for got, expected in zip(outputs["explanation"]["data"], v1["explanations"]):
        got = json.loads(got)
        assert [w["word"] for w in got["words"]] == [w["word"] for w in expected["words"]]
        assert [w["score"] for w in got["words"]] == pytest.approx([w["score"] for w in expected["words"]],
                                                                   abs=1e-5)
    assert infer({"explain": "yes"})[0] == 400
    assert infer({"explain": False})[1]["outputs"] == plain["outputs"]


def test_the_client_explains(server):
    from bertvino.client import Client
    status, answer = post_explain(server.port, {"instances": TEXTS[:2]})
    assert Client(port=server.port).explain(TEXTS[:2]) == answer["explanations"]
    with pytest.raises(TypeError):
        Client(port=server.port).explain("one text")


@pytest.mark.parametrize("body, status", [({"instances": []}, 400), ({"instances": [3]}, 400), ({}, 400)])
def test_serve_explain_refuses_bad_requests(server, body, status):
    got, answer = post_explain(server.port, body)
    assert got == status and set(answer) == {"error"}


def test_serve_explain_needs_post_and_the_served_model(server):
    assert http(server.port, "GET", f"/v1/models/{MODEL}:explain")[0] == 405
    assert http(server.port, "POST", "/v1/models/other:explain", b'{"instances": ["good"]}')[0] == 404


def test_openapi_documents_explain_and_the_page(server):
    validator = pytest.importorskip("openapi_spec_validator")
    spec = json.loads(http(server.port, "GET", "/openapi.json")[2])
    validator.validate(spec)
    assert {"/v1/models/{name}:explain", "/"} <= set(spec["paths"])


def test_the_page_is_served_whole_and_loads_nothing_from_elsewhere(server):
    status, headers, body = http(server.port, "GET", "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<textarea" in page and ":explain" in page and "sessionStorage" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page and " src=" not in page


# --- the page in a real browser ----------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT_ENV = "BERTVINO_SCREENSHOT"  # where to write the page's screenshot (default: the test's tmp_path)


def open_browser(playwright, user_data_dir):
    """Debian's Chromium, headless, with nothing that talks to the network on its own."""
    return playwright.chromium.launch_persistent_context(
        user_data_dir, executable_path=CHROMIUM, headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        viewport={"width": 900, "height": 640})


def use_the_page(port, text, screenshot, user_data_dir, api_key=None) -> dict:
    """Open /, type `text` (and an API key), submit; returns what the page shows and the requests it sent."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = open_browser(playwright, user_data_dir)
        try:
            page = browser.new_page()
            sent = []
            page.on("request", lambda request: sent.append((request.url, request.headers)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#text", text)
            if api_key:
                page.click("summary")
                page.fill("#key", api_key)
            page.click("#submit")
            page.wait_for_selector("#result:not([hidden])", timeout=30_000)
            shown = {"label": page.inner_text("#label"), "probability": page.inner_text("#probability"),
                     "bar": page.eval_on_selector("#bar", "bar => bar.style.width"),
                     "words": page.eval_on_selector_all("#words span.word", "spans => spans.map(s => "
                                                        "[s.textContent, s.dataset.score, s.style.background])"),
                     "shown_text": page.inner_text("#words"),
                     "stored_key": page.evaluate("() => sessionStorage.getItem('bertvino-api-key')"),
                     "sent": sent}
            page.screenshot(path=str(screenshot), full_page=True)
            return shown
        finally:
            browser.close()


def test_the_page_in_headless_chromium(server, classifier, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium: apt-get install -y chromium (.ci/run does)")
    text = "Terrible acting, but a wonderful, moving story."
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "page.png")
    shown = use_the_page(server.port, text, screenshot, tmp_path / "profile", api_key="secret-key")
    expected = explain(classifier, [text])[0]
    p = expected.prediction.probabilities[expected.prediction.label]
    assert shown["label"] == expected.prediction.label
    assert shown["probability"] == f"{p:.3f}" and float(shown["bar"].rstrip("%")) == pytest.approx(100 * p, abs=0.06)
    assert [w[0] for w in shown["words"]] == [w.text for w in expected.words]
    assert [float(w[1]) for w in shown["words"]] == pytest.approx([w.score for w in expected.words], abs=1e-5)
    assert all(w[2].startswith("rgba(") for w in shown["words"])  # every word highlighted
    assert shown["shown_text"] == text
    assert shown["stored_key"] == "secret-key"
    explain_calls = [headers for url, headers in shown["sent"] if url.endswith(":explain")]
    assert explain_calls and explain_calls[0].get("authorization") == "Bearer secret-key"
    assert all(url.startswith(f"http://127.0.0.1:{server.port}/") for url, _ in shown["sent"])  # nothing from elsewhere
    assert screenshot.stat().st_size > 1000
