"""BERT checkpoints with random weights, in Google's two layouts, for tests and for benchmarks at real sizes.

- `make_pretrained`: as Google releases them (`bert_model.ckpt`, with the `cls/*` pre-training heads, no
  classifier head).
- `make_finetuned`: as `run_classifier.py` writes them (`model.ckpt-N`, with the classifier head, `<var>/adam_m`
  and `<var>/adam_v` slots, and `global_step`).

Both write `bert_config.json` and `vocab.txt` beside the checkpoint, as Google's directories have them.
"""

import contextlib
import json
from pathlib import Path

import numpy as np

from ..core.config import BertConfig


def write_model_files(directory: Path, config: dict, vocab: list):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")


def make_pretrained(directory: Path, config: dict, vocab: list, seed: int = 0, scale: float = 0.1) -> str:
    """A checkpoint shaped like Google's released `bert_model.ckpt`; returns its prefix."""
    import tensorflow as tf
    from . import modeling

    tf1 = tf.compat.v1
    with _new_graph(directory, config, vocab, seed) as bert_config:
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


def make_finetuned(directory: Path, config: dict, vocab: list, num_labels: int = 2, step: int = 7, seed: int = 1,
                   head_scale: float = 1.0, scale: float = 0.2, layer_norm_scale: float = 0.0) -> str:
    """A checkpoint shaped like run_classifier.py's `model.ckpt-N`; returns its prefix.

    The weights are random, and the Adam slots hold non-zero values, as after real steps. LayerNorm keeps its
    initial gamma 1, beta 0 unless `layer_norm_scale` > 0: a converter folds `0 - x` to `-x`, so a graph meant to
    look like a trained model's (benchmarks/onnxruntime_peer.py, whose peer fuses LayerNorm by pattern) needs them
    moved off it.
    """
    import tensorflow as tf
    from . import modeling, optimization

    tf1 = tf.compat.v1
    with _new_graph(directory, config, vocab, seed) as bert_config:
        inputs = modeling.input_placeholders()
        tf1.train.get_or_create_global_step()  # the head's dropout needs it even when the config's dropout is 0
        bert = modeling.BertModel(bert_config, True, *inputs)
        logits = modeling.classifier_logits(bert.pooled_output, num_labels, 0.1)
        optimization.create_train_op(tf.reduce_mean(logits), 1e-3, 100, 10)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            _randomize(session, np.random.default_rng(seed), head_scale, scale, layer_norm_scale)
            tf1.train.get_global_step().load(step, session)
            return tf1.train.Saver().save(session, str(directory / "model.ckpt"), global_step=step)


@contextlib.contextmanager
def _new_graph(directory: Path, config: dict, vocab: list, seed: int):
    """A fresh seeded graph to build a checkpoint's variables in, with its bert_config.json and vocab.txt written;
    yields the config."""
    import tensorflow as tf

    write_model_files(directory, config, vocab)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(seed)
        yield BertConfig.from_dict(config)


def _randomize(session, rng, head_scale=1.0, scale=0.2, layer_norm_scale=0.0):
    """Give every weight (not LayerNorm's, unless `layer_norm_scale`) values of a trained model's size, rather
    than initialisation's tiny ones: a 2-layer model then separates texts, and learns in a few steps."""
    import tensorflow as tf
    for variable in tf.compat.v1.global_variables():
        name, shape = variable.op.name, variable.shape.as_list()
        if name.endswith(("gamma", "beta")):
            if layer_norm_scale > 0:
                centre = 1.0 if name.endswith("gamma") else 0.0
                variable.load((centre + rng.normal(0, layer_norm_scale, shape)).astype(np.float32), session)
        elif name != "global_step":
            std = head_scale if name.startswith("output_") else scale
            variable.load(rng.normal(0, std, shape).astype(np.float32), session)
