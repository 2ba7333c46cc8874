"""Freeze: a checkpoint -> a bundle with `frozen.pb` (ends at the pooler) and the head as `weight.npy`/`bias.npy`.

The 2019 recipe froze the training `.meta` after hand-editing `is_training = False`; that keeps whatever the
training graph held (dropout's random ops, the optimizer). Here the inference graph is rebuilt from
`bert_config.json` with `is_training=False`, only BERT's own weights are restored into it (Adam slots,
`global_step` and Google's `cls/*` pre-training heads are ignored), and it is cut at `bert/pooler/dense/Tanh`.
The head stays outside the graph, in NumPy files, so inference recombines pooled output and head itself.
"""

import time
from pathlib import Path

import numpy as np

from ..core.bundle import HEAD_VARIABLES, INPUT_NAMES, POOLER_OP, write_bundle
from ..core.config import BertConfig
from ..core.errors import BertvinoError, file_error
from ..core.features import Truncation
from ..core.files import portable_path, portable_paths
from ..core.labels import SENTIMENT_LABELS, check_labels
from ..core.tokenization import load_vocab


def freeze(checkpoint, output, bert_config_file=None, vocab_file=None, labels=None, max_seq_length=None,
           do_lower_case=None, truncation=None, overwrite=False) -> Path:
    """Write a bundle (without IR) at `output`; an existing bundle there is replaced only with `overwrite`.
    Options left None come from the training run's `train_info.json` beside the checkpoint when there is one,
    else from Google's defaults."""
    import tensorflow as tf  # the TF-only stage: imported here so `bertvino` itself stays TF-free
    from ..train import modeling
    from ..train.checkpoint import (READ_ERRORS, check_restorable, load_variable, resolve_checkpoint,
                                           unreadable, variable_shapes)
    from ..train.run_files import read_eval_results, read_train_info

    tf1 = tf.compat.v1
    started = time.perf_counter()
    prefix = resolve_checkpoint(checkpoint)
    folder = Path(prefix).parent
    info = read_train_info(folder) or {}
    bert_config_file = Path(bert_config_file or folder / "bert_config.json")
    vocab_file = Path(vocab_file or folder / "vocab.txt")
    config = BertConfig.from_json_file(bert_config_file)
    vocab = load_vocab(str(vocab_file))

    stored = variable_shapes(prefix)
    if not all(name in stored for name in HEAD_VARIABLES):
        raise file_error(prefix, f"has no classifier head ({'/'.join(HEAD_VARIABLES)}): it is a pre-trained "
                                 "checkpoint; fine-tune it first with `bertvino train`")
    weight, bias = (load_variable(prefix, name) for name in HEAD_VARIABLES)
    if weight.ndim != 2 or weight.shape[1] != config.hidden_size or bias.shape != (weight.shape[0],):
        raise file_error(prefix, f"classifier head has shapes {list(weight.shape)} and {list(bias.shape)}; "
                                 f"expected [labels, {config.hidden_size}] and [labels]")
    labels = _labels(labels or info.get("labels"), weight.shape[0], prefix)
    embedding_rows = stored.get("bert/embeddings/word_embeddings", [None])[0]
    if len(vocab) != config.vocab_size or embedding_rows not in (None, len(vocab)):
        raise file_error(vocab_file, f"has {len(vocab)} tokens but the model's embedding table has "
                                     f"{embedding_rows or config.vocab_size} rows: is it the checkpoint's own vocab?")
    max_seq_length = max_seq_length or info.get("max_seq_length") or min(128, config.max_position_embeddings)
    if not 3 <= max_seq_length <= config.max_position_embeddings:
        raise BertvinoError(f"--max_seq_length {max_seq_length} must be between 3 and the model's "
                            f"max_position_embeddings ({config.max_position_embeddings})")
    truncation = str(Truncation.from_string(truncation or info.get("truncation", "head")))
    do_lower_case = info.get("do_lower_case", True) if do_lower_case is None else do_lower_case

    graph = tf.Graph()
    with graph.as_default():
        inputs = modeling.input_placeholders()
        modeling.BertModel(config, False, *inputs, random_init=False)
        body = tf1.global_variables()
        check_restorable(prefix, body, "cannot freeze it")
        with tf1.Session(graph=graph) as session:
            try:
                tf1.train.Saver(var_list=body).restore(session, prefix)
            except READ_ERRORS as err:
                raise unreadable(prefix, err) from None
            frozen = tf1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), [POOLER_OP])

    def fill(directory: Path):
        (directory / "frozen.pb").write_bytes(frozen.SerializeToString())
        np.save(directory / "weight.npy", weight.astype(np.float32), allow_pickle=False)
        np.save(directory / "bias.npy", bias.astype(np.float32), allow_pickle=False)
        (directory / "vocab.txt").write_bytes(vocab_file.read_bytes())
        (directory / "bert_config.json").write_text(config.to_json_string(), encoding="utf-8")

    metadata = {
        "labels": labels, "max_seq_length": max_seq_length, "truncation": truncation,
        "do_lower_case": do_lower_case, "hidden_size": config.hidden_size, "vocab_size": config.vocab_size,
        "inputs": list(INPUT_NAMES), "frozen_output": POOLER_OP, "precision": None,
        "provenance": {"checkpoint": portable_path(prefix), "global_step": (int(load_variable(prefix, "global_step"))
                                                                  if "global_step" in stored else None),
                       "train_info": portable_paths(info) or None, "validation": read_eval_results(folder)},
    }
    write_bundle(output, metadata, fill, overwrite=overwrite)
    print(f"Froze {prefix} -> {output} in {time.perf_counter() - started:.1f} s "
          f"({len(frozen.node)} nodes, labels {','.join(labels)})")
    return Path(output)


def _labels(labels, num_labels, prefix) -> list:
    """The label names: given, recorded by training, or for a two-way head Google-style negative/positive."""
    if labels is None:
        labels = SENTIMENT_LABELS if num_labels == 2 else [f"label_{i}" for i in range(num_labels)]
    labels = check_labels(labels)
    if len(labels) != num_labels:
        raise file_error(prefix, f"the classifier head has {num_labels} outputs but {len(labels)} labels were "
                                 f"given ({','.join(labels)})")
    return list(labels)
