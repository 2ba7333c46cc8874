"""Training on sentence snippets (`train --snippets`, `--distill_from`) and the short-text validation set."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertvino.cli import main
from bertvino.core.errors import BertvinoError
from bertvino.train.snippets import cut_snippets, first_and_last_sentences, split_sentences, teacher_keeps

import checkpoints


def test_sentences_split_at_end_punctuation_and_closing_quotes():
    text = 'It was "great!" Then it sagged. Did it recover? Barely... The end'
    assert split_sentences(text) == ['It was "great!"', "Then it sagged.", "Did it recover?", "Barely...",
                                     "The end"]
    assert split_sentences("  ") == [] and split_sentences("one sentence only") == ["one sentence only"]


def test_snippets_are_consecutive_sentences_long_enough_and_seeded():
    text = ("The first sentence is here. Short one. The third sentence follows on. The fourth sentence ends it. "
            "And a fifth closes the review.")
    sentences = split_sentences(text)
    snippets = cut_snippets(text, 3, np.random.default_rng(7))
    assert snippets == cut_snippets(text, 3, np.random.default_rng(7))
    assert 1 <= len(snippets) <= 3 and len(set(snippets)) == len(snippets)
    for snippet in snippets:
        assert len(snippet.split()) >= 4 and snippet in " ".join(sentences) and snippet != " ".join(sentences)
    assert cut_snippets("A single sentence review here.", 2, np.random.default_rng(0)) == []
    single = cut_snippets(text, 4, np.random.default_rng(7), max_sentences=1)  # --snippet_sentences 1
    assert single and all(snippet in sentences for snippet in single)


def test_short_validation_texts_are_the_first_and_last_sentence():
    assert first_and_last_sentences("Loved every minute of it. Meh. The ending is a triumph, truly.") == [
        "Loved every minute of it.", "The ending is a triumph, truly."]
    assert first_and_last_sentences("Too short. Also short.") == []


def test_bucketed_order_is_a_seeded_permutation_of_similar_lengths():
    from bertvino.train.finetune import _ExampleOrder
    lengths = np.random.default_rng(0).choice([10, 200], size=400)
    order = _ExampleOrder(400, 8, seed=3, lengths=lengths)
    epoch = np.concatenate([order.batch(step) for step in range(50)])
    assert sorted(epoch) == list(range(400))
    again = _ExampleOrder(400, 8, seed=3, lengths=lengths)
    assert all((again.batch(s) == order.batch(s)).all() for s in (0, 17, 49, 50, 99))
    mixed = sum(len(set(lengths[order.batch(step)])) > 1 for step in range(50))
    assert mixed <= 2  # at most the batch at each window's length boundary mixes short and long


def _multi_sentence_reviews(directory: Path, per_label=24, seed=0) -> Path:
    """Reviews of 2-4 sentences each, every sentence carrying its review's sentiment words."""
    rng = np.random.default_rng(seed)
    for label, words in (("pos", checkpoints.POSITIVE_WORDS), ("neg", checkpoints.NEGATIVE_WORDS)):
        (directory / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            sentences = [" ".join(["the", "movie", "was"] + list(rng.choice(words, rng.integers(1, 3)))) + " ."
                         for _ in range(rng.integers(2, 5))]
            (directory / label / f"{i}_{9 if label == 'pos' else 2}.txt").write_text(" ".join(sentences))
    return directory


@pytest.fixture(scope="module")
def multi_sentence_reviews(tmp_path_factory):
    return _multi_sentence_reviews(tmp_path_factory.mktemp("multi"))


def test_teacher_keeps_snippets_it_agrees_with(fp32_bundle):
    texts = ["the movie was good great .", "the movie was bad awful ."]
    labels = np.array([1, 0])
    keep_all = teacher_keeps(fp32_bundle, texts, labels, ("negative", "positive"), threshold=1e-9)
    assert keep_all.tolist() == [True, True]
    assert teacher_keeps(fp32_bundle, texts, labels, ("negative", "positive"), threshold=1.0).sum() == 0
    with pytest.raises(BertvinoError, match="not the training labels"):
        teacher_keeps(fp32_bundle, texts, labels, ("bad", "good"), threshold=0.5)


def _labelled_texts(directory: Path) -> tuple:
    texts, labels = [], []
    for label, folder in enumerate(("neg", "pos")):
        for file in sorted((directory / folder).iterdir()):
            texts.append(file.read_text())
            labels.append(label)
    return texts, np.array(labels, dtype=np.int32)


def test_the_teacher_keeps_exactly_the_snippets_at_or_above_its_threshold(fp32_bundle, multi_sentence_reviews,
                                                                          capsys):
    """Training's snippet step, with and without the teacher: the snippets kept are those (and only those) whose
    review's label the teacher gives at least the threshold, computed here one snippet at a time. The threshold
    sits in the widest gap among the probabilities above 0.5, so the teacher must reject snippets it labels
    right but not surely enough, as well as those it labels wrong."""
    pytest.importorskip("tensorflow")
    from bertvino.infer.classifier import Classifier
    from bertvino.core.bundle import load_bundle
    from bertvino.train.finetune import _with_snippets
    from bertvino.train.options import TrainingOptions

    label_names = ("negative", "positive")
    texts, labels = _labelled_texts(multi_sentence_reviews)

    def snippets(**teacher):
        options = TrainingOptions(bert_config_file="", vocab_file="", output_dir="", data=[], labels=label_names,
                                  snippets=2, **teacher)
        one_hot = np.eye(2, dtype=np.float32)[labels]
        all_texts, all_targets = _with_snippets(options, texts, labels, one_hot)
        np.testing.assert_array_equal(all_targets[:len(texts)], one_hot)  # the reviews keep their labels
        targets = all_targets[len(texts):]
        assert set(np.unique(targets)) <= {0.0, 1.0}  # hard labels: filtered or not, never softened
        return all_texts[len(texts):], targets.argmax(axis=1)

    cut, cut_labels = snippets()
    classifier = Classifier(load_bundle(fp32_bundle), precision="f32")
    p = np.array([classifier.predict([text])[0].probabilities[label_names[label]]
                  for text, label in zip(cut, cut_labels)])
    agreeing = np.sort(p[p > 0.5])  # the snippets the teacher labels as their reviews are
    gap = int(np.argmax(np.diff(agreeing)))
    assert agreeing[gap + 1] - agreeing[gap] > 1e-4  # no snippet near the threshold, where rounding could decide
    threshold = float(agreeing[gap] + agreeing[gap + 1]) / 2  # rejects some of them: the threshold decides

    kept, kept_labels = snippets(distill_from=str(fp32_bundle), distill_threshold=threshold)
    assert kept == [text for text, probability in zip(cut, p) if probability >= threshold]
    assert kept_labels.tolist() == [label for label, probability in zip(cut_labels, p) if probability >= threshold]
    assert 0 < len(kept) < len(cut)
    assert f"kept {len(kept)} of {len(cut)} snippets (p >= {threshold}" in capsys.readouterr().out


def test_soft_targets_mix_the_review_label_and_the_teacher_at_its_temperature(fp32_bundle, multi_sentence_reviews):
    """`--distill_targets soft`: every snippet kept, its target w x its review's one-hot label + (1 - w) x the
    teacher's softmax(logits / T), the teacher's logits computed here one snippet at a time."""
    pytest.importorskip("tensorflow")
    from bertvino.core.bundle import load_bundle
    from bertvino.infer.classifier import Classifier
    from bertvino.train.finetune import _with_snippets
    from bertvino.train.options import TrainingOptions

    texts, labels = _labelled_texts(multi_sentence_reviews)
    one_hot = np.eye(2, dtype=np.float32)[labels]
    options = TrainingOptions(bert_config_file="", vocab_file="", output_dir="", data=[], snippets=2,
                              labels=("negative", "positive"))
    cut, cut_targets = _with_snippets(options, texts, labels, one_hot)
    soft = dataclasses.replace(options, distill_from=str(fp32_bundle), distill_targets="soft",
                               distill_temperature=3.0, distill_review_weight=0.25)
    soft_texts, soft_targets = _with_snippets(soft, texts, labels, one_hot)
    assert soft_texts == cut  # nothing filtered
    classifier = Classifier(load_bundle(fp32_bundle), precision="f32")
    logits = np.concatenate([classifier.logits(classifier.pooled(classifier.encode_batch([text])))
                             for text in cut[len(texts):]]).astype(np.float64) / 3.0
    teacher = np.exp(logits - logits.max(axis=1, keepdims=True))
    teacher /= teacher.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft_targets[len(texts):], 0.25 * cut_targets[len(texts):] + 0.75 * teacher,
                               atol=1e-5)
    np.testing.assert_array_equal(soft_targets[:len(texts)], one_hot)


def test_soft_targets_without_a_teacher_are_refused(tmp_path, pretrained_checkpoint, reviews_dir, capsys):
    folder = Path(pretrained_checkpoint).parent
    assert main(["train", "--data", str(reviews_dir), "--bert_config_file", str(folder / "bert_config.json"),
                 "--vocab_file", str(folder / "vocab.txt"), "--output_dir", str(tmp_path / "run"),
                 "--snippets", "2", "--distill_targets", "soft"]) == 1
    assert "--distill_targets soft needs a teacher" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("teacher", [False, True])
def test_train_with_snippets_reports_short_text_accuracy(tmp_path, pretrained_checkpoint, multi_sentence_reviews,
                                                         fp32_bundle, capsys, teacher):
    pytest.importorskip("tensorflow")
    folder = Path(pretrained_checkpoint).parent
    args = ["train", "--data", str(multi_sentence_reviews), "--bert_config_file", str(folder / "bert_config.json"),
            "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
            "--output_dir", str(tmp_path / "run"), "--max_seq_length", "32", "--train_batch_size", "8",
            "--learning_rate", "1e-3", "--num_train_epochs", "4", "--validation_fraction", "0.25",
            "--snippets", "2", "--snippet_sentences", "1"]
    if teacher:
        args += ["--distill_from", str(fp32_bundle), "--distill_threshold", "0.5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    if teacher:
        kept, cut = map(int, re.search(r"Teacher .* kept (\d+) of (\d+) snippets", out).groups())
        assert 0 < kept < cut  # it filtered some out, and kept some
    else:
        assert re.search(r"Adding \d+ snippets", out)
    results = dict(line.split(" = ") for line in (tmp_path / "run" / "eval_results.txt").read_text().splitlines())
    accuracy, examples = float(results["short_eval_accuracy"]), int(results["short_eval_examples"])
    assert examples > 0 and 0 <= accuracy <= 1
    assert abs(accuracy * examples - round(accuracy * examples)) < 1e-6  # right answers over the examples
    info = json.loads((tmp_path / "run" / "train_info.json").read_text())
    assert info["snippets"] == 2 and info["snippet_sentences"] == 1 and bool(info["distill_from"]) == teacher


def test_distilling_without_snippets_is_refused(tmp_path, pretrained_checkpoint, reviews_dir, fp32_bundle, capsys):
    folder = Path(pretrained_checkpoint).parent
    code = main(["train", "--data", str(reviews_dir), "--bert_config_file", str(folder / "bert_config.json"),
                 "--vocab_file", str(folder / "vocab.txt"), "--init_checkpoint", pretrained_checkpoint,
                 "--output_dir", str(tmp_path / "out"), "--distill_from", str(fp32_bundle)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--snippets" in err


def test_extra_data_is_trained_on_repeated_and_never_moves_the_validation_split(tmp_path, pretrained_checkpoint,
                                                                                  multi_sentence_reviews):
    """`--extra_data`: its texts join the training set (x --extra_repeat) after --data's validation split, so the
    split is the one a run without them holds out, and no extra text is ever validated on."""
    from bertvino.core.features import Truncation
    from bertvino.core.tokenization import FullTokenizer
    from bertvino.train.finetune import _load_examples
    from bertvino.train.options import TrainingOptions

    extra = tmp_path / "one-liners.csv"
    extra.write_text("text,label\nutterly wonderful,positive\na waste of two hours,negative\nskip it,negative\n")
    folder = Path(pretrained_checkpoint).parent
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    options = TrainingOptions(bert_config_file="", vocab_file="", output_dir="", data=[str(multi_sentence_reviews)],
                              max_seq_length=32, validation_fraction=0.25)
    plain_train, plain_eval, _, labels = _load_examples(options, tokenizer, Truncation())
    with_extra = dataclasses.replace(options, extra_data=[str(extra)], extra_repeat=3)
    (ids, targets), eval_set, _, _ = _load_examples(with_extra, tokenizer, Truncation())
    assert eval_set[0] == plain_eval[0] and (eval_set[1] == plain_eval[1]).all()  # the same validation split
    assert ids[:len(plain_train[0])] == plain_train[0] and len(ids) == len(plain_train[0]) + 9
    encoded = [tokenizer.convert_tokens_to_ids(["[CLS]", *tokenizer.tokenize(text), "[SEP]"])
               for text in ("utterly wonderful", "a waste of two hours", "skip it")]
    assert ids[len(plain_train[0]):] == encoded * 3
    np.testing.assert_array_equal(targets[len(plain_train[0]):].argmax(axis=1),
                                  [labels.index(label) for label in ("positive", "negative", "negative")] * 3)
