"""Tiny random BERT checkpoints in Google's two layouts, and tiny review data, made by the tests themselves.

- `make_pretrained`: as Google releases them (`bert_model.ckpt`, with the `cls/*` pre-training heads, no
  classifier head).
- `make_finetuned`: as `run_classifier.py` writes them (`model.ckpt-N`, with the classifier head, `<var>/adam_m`
  and `<var>/adam_v` slots, and `global_step`).
"""

import json
import os
import re
from pathlib import Path

import numpy as np

POSITIVE_WORDS = ["good", "great", "wonderful", "brilliant", "loved", "superb"]
NEGATIVE_WORDS = ["bad", "awful", "terrible", "boring", "hated", "dull"]
OTHER_WORDS = ["the", "a", "movie", "film", "was", "is", "and", "it", "plot", "acting", "this", "very", "un",
               "##s", "##ing", "##ly", ".", ",", "!", "?", "'"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + POSITIVE_WORDS + NEGATIVE_WORDS + OTHER_WORDS

TINY_CONFIG = {
    "vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def write_model_files(directory: Path, config: dict = TINY_CONFIG, vocab=VOCAB):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")


def make_pretrained(directory: Path, config: dict = TINY_CONFIG, seed: int = 0, scale: float = 0.1) -> str:
    """A checkpoint shaped like Google's released `bert_model.ckpt`; returns its prefix."""
    import tensorflow as tf
    from bertvino.config import BertConfig
    from bertvino.train import modeling

    tf1 = tf.compat.v1
    write_model_files(directory, config)
    bert_config = BertConfig.from_dict(config)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(seed)
        modeling.BertModel(bert_config, False, *modeling.input_placeholders())
        hidden = bert_config.hidden_size
        for name, shape in [("cls/predictions/transform/dense/kernel", [hidden, hidden]),
                            ("cls/predictions/transform/dense/bias", [hidden]),
                            ("cls/predictions/transform/LayerNorm/gamma", [hidden]),
                            ("cls/predictions/transform/LayerNorm/beta", [hidden]),
                            ("cls/predictions/output_bias", [bert_config.vocab_size]),
                            ("cls/seq_relationship/output_weights", [2, hidden]),
                            ("cls/seq_relationship/output_bias", [2])]:
            tf1.get_variable(name, shape, initializer=tf1.truncated_normal_initializer(stddev=0.02))
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            _randomize(session, np.random.default_rng(seed), scale=scale)
            return tf1.train.Saver().save(session, str(directory / "bert_model.ckpt"))


def make_finetuned(directory: Path, config: dict = TINY_CONFIG, num_labels: int = 2, step: int = 7,
                   seed: int = 1, head_scale: float = 1.0, vocab=VOCAB, scale: float = 0.2) -> str:
    """A checkpoint shaped like run_classifier.py's `model.ckpt-N`; returns its prefix.

    The weights are random, and the Adam slots hold non-zero values, as after real steps.
    """
    import tensorflow as tf
    from bertvino.config import BertConfig
    from bertvino.train import modeling, optimization

    tf1 = tf.compat.v1
    write_model_files(directory, config, vocab)
    bert_config = BertConfig.from_dict(config)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(seed)
        inputs = modeling.input_placeholders()
        bert = modeling.BertModel(bert_config, True, *inputs)
        logits = modeling.classifier_logits(bert.pooled_output, num_labels, 0.1)
        optimization.create_train_op(tf.reduce_mean(logits), 1e-3, 100, 10)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            _randomize(session, np.random.default_rng(seed), head_scale, scale)
            tf1.train.get_global_step().load(step, session)
            return tf1.train.Saver().save(session, str(directory / "model.ckpt"), global_step=step)


def _randomize(session, rng, head_scale=1.0, scale=0.2):
    """Give every weight (not LayerNorm's) values of a trained model's size, rather than initialisation's
    tiny ones: a 2-layer model then separates texts, and learns in a few steps."""
    import tensorflow as tf
    for variable in tf.compat.v1.global_variables():
        name = variable.op.name
        if name != "global_step" and not name.endswith(("gamma", "beta")):
            std = head_scale if name.startswith("output_") else scale
            variable.load(rng.normal(0, std, variable.shape.as_list()).astype(np.float32), session)


def make_reviews(directory: Path, per_label: int = 20, seed: int = 0) -> Path:
    """An aclImdb-like folder (pos/ and neg/) of short reviews that a tiny model separates in a few steps: the
    sentiment words vary in number and position, so it must learn the words, not where they stand."""
    rng = np.random.default_rng(seed)
    filler = ["the", "movie", "was", "and", "it", "plot", "acting", "this", "very", "film", "is"]
    for label, words in (("pos", POSITIVE_WORDS), ("neg", NEGATIVE_WORDS)):
        (directory / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            before = list(rng.choice(filler, rng.integers(0, 5)))
            after = list(rng.choice(filler, rng.integers(0, 5)))
            text = " ".join(before + list(rng.choice(words, rng.integers(1, 4))) + after) + " ."
            rating = 9 if label == "pos" else 2
            (directory / label / f"{i}_{rating}.txt").write_text(text + "<br /><br />", encoding="utf-8")
    return directory


# A line TensorFlow itself logs: absl's pre-init notice, absl-format C++ lines (I0000 00:00:...), TF's older
# "2024-01-01 ...: I tensorflow/..." format, its Python logger, deprecation notices, the oneDNN banner.
TENSORFLOW_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:|\d{4}-\d\d-\d\d [\d:.]+: "
                                 r"[IWEF] |WARNING:tensorflow|INFO:tensorflow|Instructions for updating)"
                                 r"|oneDNN custom operations|is deprecated|cpu_feature_guard", re.MULTILINE)


def bertvino_process_env() -> dict:
    """The environment a user's shell gives `bertvino`: none of the test run's TensorFlow log settings."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONUNBUFFERED"] = "1"
    return env
