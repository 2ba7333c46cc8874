"""Fine-tuning BERT for review classification: `run_classifier.py`'s recipe as one plain training loop.

    reviews -> WordPiece ids -> BERT + head (graph mode) -> AdamWeightDecay steps -> model.ckpt-N -> eval

Read top to bottom: `train()` (its options, `TrainingOptions`, are in train/options.py) loads the data, builds
one graph, restores what it should, runs the steps and evaluates. The two passes differ only in the graph:
- pass 1 (`no_dropout=False`): dropout on, starts from a pretrained or fine-tuned checkpoint; a head it lacks is
  initialised at random.
- pass 2 (`no_dropout=True`): every dropout rate 0 and every variable initialised from pass 1's checkpoint
  (Adam slots are not needed, and start at zero), so the graph it saves holds no random op at all.

The run is resumable: the example order is a pure function of (seed, step), and re-running the same command
restores the newest `model.ckpt-N` in `output_dir` (weights, Adam slots, global_step) and goes on from step N.
Checkpoints are saved every `save_checkpoints_steps` steps, every `save_checkpoints_secs` seconds, and when SIGINT
(Ctrl-C) or SIGTERM stops the run, so an interruption loses at most the step in progress.
"""

import dataclasses
import math
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ..core.bundle import HEAD_VARIABLES, INPUT_NAMES
from ..core.config import BertConfig
from ..core.errors import BertvinoError, Interrupted, file_error
from ..core.features import Truncation, encode, pad_batch
from ..core.files import make_directory, write_text_atomically
from ..core.labels import check_labels, labels_from_data, match_label
from ..core.reviews import read_reviews
from ..core.tokenization import FullTokenizer
from . import modeling, optimization
from .options import TrainingOptions
from .snippets import cut_snippets, teacher_keeps, teacher_probabilities
from .validation import held_out_mask, short_texts
from .checkpoint import (READ_ERRORS, check_restorable, resolve_checkpoint, unreadable,
                                       variable_shapes)
from .run_files import (EVAL_RESULTS_FILE, TRAIN_INFO_FILE, read_eval_results, read_train_info, write_eval_results,
                        write_train_info)

tf1 = tf.compat.v1


def train(options: TrainingOptions) -> dict:
    """Fine-tune, save checkpoints, evaluate; returns the evaluation results (also in eval_results.txt)."""
    _check_options(options)
    config = BertConfig.from_json_file(options.bert_config_file)
    if options.max_seq_length > config.max_position_embeddings:  # as run_classifier.py refuses it, up front
        raise BertvinoError(f"cannot use --max_seq_length {options.max_seq_length} because the BERT model was only "
                            f"trained up to sequence length {config.max_position_embeddings} "
                            f"(max_position_embeddings in {options.bert_config_file})")
    if options.no_dropout:
        config = config.without_dropout()
    tokenizer = FullTokenizer(options.vocab_file, do_lower_case=options.do_lower_case)
    if len(tokenizer.vocab) != config.vocab_size:
        raise file_error(options.vocab_file, f"has {len(tokenizer.vocab)} tokens but {options.bert_config_file} "
                                             f"says vocab_size {config.vocab_size}")
    truncation = Truncation.from_string(options.truncation)
    output_dir = Path(options.output_dir)
    resume_from = _prepare_output_dir(options, output_dir, config)  # before the data: a wrong flag fails at once
    if (finished := _finished(output_dir, resume_from)) is not None:
        print(f"Already trained: {resume_from} is the run's last step and {EVAL_RESULTS_FILE} holds its evaluation; "
              "nothing to do (another --output_dir trains again)")
        return finished
    if resume_from:
        print(f"Resuming from {resume_from}")
    init_checkpoint = None if resume_from else _init_checkpoint(options)
    # The data may name the labels; train_info.json records them, and freeze takes them from there.
    train_set, eval_set, short_eval_set, labels = _load_examples(options, tokenizer, truncation)
    options = dataclasses.replace(options, labels=labels)
    _record_run(options, output_dir, resume_from)
    num_train_steps = int(len(train_set[0]) / options.train_batch_size * options.num_train_epochs)
    num_warmup_steps = int(num_train_steps * options.warmup_proportion)
    if num_train_steps < 1:
        raise BertvinoError(f"{len(train_set[0])} training reviews make no full batch of "
                            f"{options.train_batch_size}: lower --train_batch_size or add data")

    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(options.seed)
        model = _build_graph(config, len(options.labels), options.learning_rate, num_train_steps,
                             num_warmup_steps, random_init=not options.no_dropout)
        saver = tf1.train.Saver(max_to_keep=options.keep_checkpoint_max)
        if init_checkpoint:
            _init_from_checkpoint(init_checkpoint, with_head=options.no_dropout)
        initialize = tf1.global_variables_initializer()  # after init_from_checkpoint, which swaps initializers
        graph.finalize()

    with tf1.Session(graph=graph) as session:
        checkpoint = resume_from or init_checkpoint
        try:
            saver.restore(session, resume_from) if resume_from else session.run(initialize)
        except READ_ERRORS as err:
            raise unreadable(checkpoint, err) from None
        start_step = int(session.run(model["global_step"]))
        if start_step < num_train_steps:
            print(f"Training {len(train_set[0])} reviews for {num_train_steps} steps of "
                  f"{options.train_batch_size}" + (f", resuming at step {start_step}" if start_step else ""))
            _run_steps(session, model, saver, options, train_set, start_step, num_train_steps, output_dir)
        results = _evaluate(session, model, eval_set, options.eval_batch_size) if eval_set else {}
        if short_eval_set:
            short = _evaluate(session, model, short_eval_set, options.eval_batch_size, desc="eval short")
            results.update({f"short_{key}": value for key, value in short.items()})
    results["global_step"] = num_train_steps
    write_eval_results(output_dir, results)
    return results


def _build_graph(config, num_labels, learning_rate, num_train_steps, num_warmup_steps, random_init):
    """The training model (dropout as configured), the optimizer, and an evaluation model sharing its weights."""
    input_ids, input_mask, segment_ids = modeling.input_placeholders()
    label_ids = tf1.placeholder(tf.int32, [None], name="label_ids")  # evaluation: the gold label of each text
    targets = tf1.placeholder(tf.float32, [None, num_labels], name="targets")  # training: a distribution each
    inputs = (input_ids, input_mask, segment_ids)

    bert = modeling.BertModel(config, True, *inputs, random_init=random_init)
    logits = modeling.classifier_logits(bert.pooled_output, num_labels, config.hidden_dropout_prob,
                                        random_init=random_init)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits))
    train_op, learning_rate = optimization.create_train_op(loss, learning_rate, num_train_steps,
                                                            num_warmup_steps)

    with tf1.variable_scope(tf1.get_variable_scope(), reuse=True):
        eval_bert = modeling.BertModel(config, False, *inputs)
        eval_logits = modeling.classifier_logits(eval_bert.pooled_output, num_labels, 0.0)
    eval_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label_ids, logits=eval_logits)
    return {"inputs": inputs, "label_ids": label_ids, "targets": targets, "loss": loss, "train_op": train_op,
            "learning_rate": learning_rate, "eval_losses": eval_losses, "eval_predictions":
            tf.argmax(eval_logits, axis=-1, output_type=tf.int32), "global_step": tf1.train.get_global_step()}


def _run_steps(session, model, saver, options, train_set, start_step, num_train_steps, output_dir):
    """The loop itself: feed a batch, step, show loss and speed; save every `save_checkpoints_steps` steps, every
    `save_checkpoints_secs` seconds, and after the step in progress when SIGINT/SIGTERM asks the run to stop."""
    ids, targets = train_set
    # snippets and extra short texts: bucket by length
    lengths = np.array([len(i) for i in ids]) if options.snippets or options.extra_data else None
    order = _ExampleOrder(len(ids), options.train_batch_size, options.seed, lengths)
    progress = tqdm(initial=start_step, total=num_train_steps, desc="train", unit="step", dynamic_ncols=True)
    started, smoothed_loss = time.perf_counter(), None
    last_saved = time.monotonic()
    with _StopRequest() as stop:
        for step in range(start_step, num_train_steps):
            batch = order.batch(step)
            feed = _feed(model, pad_batch([ids[i] for i in batch]), targets=targets[batch])
            _, loss, lr = session.run([model["train_op"], model["loss"], model["learning_rate"]], feed)
            smoothed_loss = loss if smoothed_loss is None else 0.9 * smoothed_loss + 0.1 * loss
            examples_per_s = (step + 1 - start_step) * options.train_batch_size / (time.perf_counter() - started)
            progress.set_postfix(loss=f"{smoothed_loss:.4f}", lr=f"{lr:.2e}",
                                 ex_per_s=f"{examples_per_s:.1f}", refresh=False)
            progress.update(1)  # counted once done, so the bar shows the step a checkpoint saved at a signal
            done = step + 1
            time_is_up = (options.save_checkpoints_secs > 0
                          and time.monotonic() - last_saved >= options.save_checkpoints_secs)
            if done % options.save_checkpoints_steps == 0 or done == num_train_steps or time_is_up or stop.signum:
                saved = saver.save(session, str(output_dir / "model.ckpt"), global_step=done)
                last_saved = time.monotonic()
                progress.write(f"step {done}: loss {smoothed_loss:.4f}, saved model.ckpt-{done}")
            if stop.signum and done < num_train_steps:
                progress.close()
                raise Interrupted(stop.signum, f"stopped by {signal.Signals(stop.signum).name} at step {done} of "
                                               f"{num_train_steps}; saved {saved}. Run the same command again to "
                                               f"resume from step {done}.")
    progress.close()


class _StopRequest:
    """While the steps run, SIGINT (Ctrl-C) and SIGTERM ask the loop to save after the step in progress and stop,
    instead of killing it; a second signal stops at once, without that checkpoint."""

    def __enter__(self):
        self.signum, self._previous = None, {}
        if threading.current_thread() is threading.main_thread():  # Python delivers signals to the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._ask_to_stop)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _ask_to_stop(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signum:
            raise Interrupted(signum, f"stopped by a second {name} before saving; the newest model.ckpt-N in "
                                      f"--output_dir is where the same command resumes")
        self.signum = signum
        tqdm.write(f"{name}: saving a checkpoint after this step, then stopping ({name} again stops at once)",
                   file=sys.stderr)


class _ExampleOrder:
    """Which examples make batch `step`: a fresh seeded shuffle per epoch, batches running across epochs.

    With `lengths`, each window of BUCKET_WINDOW batches of the shuffle is sorted by length, cut into batches and
    the batches shuffled again: a batch then holds texts of similar length, so a batch of short snippets is padded
    to ~40 pieces rather than to the longest review's 256, and costs a fraction of a review batch.

    A pure function of (seed, step), so a resumed run sees exactly the batches the interrupted one would have.
    """

    BUCKET_WINDOW = 50

    def __init__(self, num_examples, batch_size, seed, lengths=None):
        self.num_examples, self.batch_size, self.seed, self.lengths = num_examples, batch_size, seed, lengths
        self._epoch, self._permutation = None, None

    def batch(self, step) -> np.ndarray:
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        return np.array([self._permutation_for(p // self.num_examples)[p % self.num_examples] for p in positions])

    def _permutation_for(self, epoch):
        if epoch != self._epoch:
            self._epoch = epoch
            rng = np.random.default_rng([self.seed, epoch])
            self._permutation = rng.permutation(self.num_examples)
            if self.lengths is not None:
                self._permutation = self._bucketed(self._permutation, rng)
        return self._permutation

    def _bucketed(self, permutation, rng):
        window = self.BUCKET_WINDOW * self.batch_size
        pieces = []
        for start in range(0, len(permutation), window):
            members = permutation[start:start + window]
            members = members[np.argsort(self.lengths[members], kind="stable")]
            batches = [members[i:i + self.batch_size] for i in range(0, len(members), self.batch_size)]
            pieces.extend(batches[i] for i in rng.permutation(len(batches)))
        return np.concatenate(pieces)


def _evaluate(session, model, eval_set, batch_size, desc="eval") -> dict:
    ids, labels = eval_set
    losses, correct = [], 0
    for start in tqdm(range(0, len(ids), batch_size), desc=desc, unit="batch", dynamic_ncols=True):
        batch_labels = labels[start:start + batch_size]
        feed = _feed(model, pad_batch(ids[start:start + batch_size]), label_ids=batch_labels)
        batch_losses, predictions = session.run([model["eval_losses"], model["eval_predictions"]], feed)
        losses.extend(batch_losses)
        correct += int(np.sum(predictions == batch_labels))
    return {"eval_accuracy": correct / len(ids), "eval_loss": float(np.mean(losses)), "eval_examples": len(ids)}


def _feed(model, arrays, label_ids=None, targets=None):
    """Inputs and either the gold label ids (evaluation) or the target distributions (training)."""
    feed = {placeholder: arrays[name] for placeholder, name in zip(model["inputs"], INPUT_NAMES)}
    return {**feed, **({model["label_ids"]: label_ids} if targets is None else {model["targets"]: targets})}


def _load_examples(options, tokenizer, truncation):
    """(train ids, targets), (eval ids, labels) or None, (short-text eval ids, labels) or None, and the label names:
    --labels, or those the training data uses (sorted; negative/positive for sentiment spellings such as pos/neg).

    The validation split is stratified and seeded. Snippets (`--snippets`) are cut from the training reviews only,
    after the split, so no sentence of a validation review is ever trained on; the short-text validation set is the
    first and last sentence of each held-out review.
    """
    encode_text = lambda text: encode(tokenizer, text, options.max_seq_length, truncation)  # noqa: E731

    def read(paths, split, what):
        reviews = list(tqdm(read_reviews(paths, split=split), desc=f"read {what}", unit=" reviews",
                            dynamic_ncols=True))
        if not reviews:
            raise BertvinoError(f"no reviews in {', '.join(map(str, paths))}")
        unlabelled = next((review for review in reviews if review.label is None), None)
        if unlabelled:
            raise file_error(unlabelled.source, "has no label; training needs labelled reviews")
        return reviews

    def load(reviews):
        indices = []
        for review in reviews:
            label = match_label(review.label, label_names)
            if label is None:
                raise file_error(review.source, f"label {review.label!r} is not one of the labels "
                                                f"{','.join(label_names)} ({where_labels_come_from})")
            indices.append(label_names.index(label))
        return [review.text for review in reviews], np.array(indices, dtype=np.int32)

    train_reviews = read(options.data, options.split, "train")
    eval_reviews = read(options.eval_data, options.eval_split, "eval") if options.eval_data else None
    if options.labels:
        label_names, where_labels_come_from = check_labels(options.labels), "--labels"
    else:
        label_names = labels_from_data(review.label for review in train_reviews)
        where_labels_come_from = "found in --data"
        print(f"Labels found in --data: {', '.join(label_names)}")
    options = dataclasses.replace(options, labels=label_names)

    def encoded(texts, labels, what):
        ids = [encode_text(text) for text in tqdm(texts, desc=f"tokenize {what}", unit=" texts", dynamic_ncols=True)]
        return ids, labels

    texts, labels = load(train_reviews)
    if eval_reviews:
        eval_texts, eval_labels = load(eval_reviews)
    elif options.validation_fraction > 0:
        held_out = held_out_mask(labels, len(options.labels), options.validation_fraction, options.seed)
        eval_texts, eval_labels = [texts[i] for i in np.flatnonzero(held_out)], labels[held_out]
        texts, labels = [texts[i] for i in np.flatnonzero(~held_out)], labels[~held_out]
    else:
        eval_texts, eval_labels = None, None

    targets = np.eye(len(options.labels), dtype=np.float32)[labels]  # a review's target is its label
    if options.snippets:
        texts, targets = _with_snippets(options, texts, labels, targets)
    if options.extra_data:  # after the split: extra texts are trained on, never validated on
        extra_texts, extra_labels = load(read(options.extra_data, None, "extra"))
        texts = texts + extra_texts * options.extra_repeat
        extra_targets = np.eye(len(options.labels), dtype=np.float32)[extra_labels]
        targets = np.concatenate([targets, np.tile(extra_targets, (options.extra_repeat, 1))])
        print(f"Adding {len(extra_texts)} texts from --extra_data x {options.extra_repeat}")
    train_set = encoded(texts, targets, "train")
    if eval_texts is None:
        return train_set, None, None, label_names
    short, short_labels = short_texts(eval_texts, eval_labels)
    short_set = encoded(short, short_labels, "short eval") if short else None
    return train_set, encoded(eval_texts, eval_labels, "eval"), short_set, label_names


def _with_snippets(options, texts, labels, targets):
    """The training reviews and their targets plus up to `options.snippets` snippets of each, with theirs: the
    review's label, unless a teacher filters them (`--distill_targets filter`) or softens them (`soft`)."""
    rng = np.random.default_rng([options.seed, 1])
    snippet_texts, snippet_labels = [], []
    for text, label in zip(texts, labels):
        cut = cut_snippets(text, options.snippets, rng, options.snippet_sentences)
        snippet_texts.extend(cut)
        snippet_labels.extend([label] * len(cut))
    snippet_labels = np.array(snippet_labels, dtype=np.int32)
    snippet_targets = np.eye(len(options.labels), dtype=np.float32)[snippet_labels]
    if options.distill_from and snippet_texts and options.distill_targets == "soft":
        teacher = teacher_probabilities(options.distill_from, snippet_texts, options.labels,
                                        options.distill_temperature)
        weight = options.distill_review_weight
        snippet_targets = (weight * snippet_targets + (1 - weight) * teacher).astype(np.float32)
        print(f"Adding {len(snippet_texts)} snippets with soft targets: {weight:g} x their review's label + "
              f"{1 - weight:g} x teacher {options.distill_from} at temperature {options.distill_temperature:g} "
              f"(mean top target {snippet_targets.max(axis=1).mean():.3f})")
    elif options.distill_from and snippet_texts:
        keep = teacher_keeps(options.distill_from, snippet_texts, snippet_labels, options.labels,
                             options.distill_threshold)
        print(f"Teacher {options.distill_from} kept {int(keep.sum())} of {len(snippet_texts)} snippets "
              f"(p >= {options.distill_threshold} for the review's label)")
        snippet_texts = [t for t, k in zip(snippet_texts, keep) if k]
        snippet_targets = snippet_targets[keep]
    else:
        print(f"Adding {len(snippet_texts)} snippets, labelled by their reviews")
    return texts + snippet_texts, np.concatenate([targets, snippet_targets])


def _init_checkpoint(options):
    if options.init_checkpoint is None:
        if options.no_dropout:
            raise BertvinoError("--no-dropout is the second pass: give --init_checkpoint, the first pass's "
                                "checkpoint (or its output directory)")
        return None
    prefix = resolve_checkpoint(options.init_checkpoint)
    if options.no_dropout and HEAD_VARIABLES[0] not in variable_shapes(prefix):
        raise file_error(prefix, "has no classifier head (output_weights): --no-dropout continues a fine-tuned "
                                 "checkpoint; run the first pass (without --no-dropout) on it first")
    return prefix


def _init_from_checkpoint(prefix, with_head):
    """Point the initializers of the model's weights at the checkpoint (Google's init_from_checkpoint).

    Every BERT weight must be there; the head too on pass 2. Adam slots and global_step start afresh, and
    anything else in the checkpoint (`cls/*` pre-training heads, old Adam slots) is ignored.
    """
    body = [v for v in tf1.trainable_variables() if v.op.name not in HEAD_VARIABLES]
    head = [v for v in tf1.trainable_variables() if v.op.name in HEAD_VARIABLES]
    check_restorable(prefix, body + head if with_head else body, "cannot initialise from it")
    if not with_head:  # keep a fine-tuned head when it fits these labels, else start a new one
        stored = variable_shapes(prefix)
        head = [v for v in head if stored.get(v.op.name) == v.shape.as_list()]
    tf1.train.init_from_checkpoint(prefix, {v.op.name: v for v in body + head})


def _prepare_output_dir(options, output_dir: Path, config) -> str | None:
    """Create output_dir, or find the checkpoint to resume from (checking the flags are the run's)."""
    latest = tf.train.latest_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    record = {key: _jsonable(getattr(options, key)) for key in TrainingOptions.RESUME_KEYS}
    if latest:
        try:
            previous = read_train_info(output_dir)
        except BertvinoError:
            previous = None
        if previous is None:
            raise file_error(output_dir, f"holds checkpoints but no readable {TRAIN_INFO_FILE}: not a bertvino "
                                         "training directory; choose another --output_dir")
        defaults = {field.name: _jsonable(field.default) for field in dataclasses.fields(TrainingOptions)}
        changed = [key for key in TrainingOptions.RESUME_KEYS if previous.get(key, defaults[key]) != record[key]
                   and not (key == "labels" and options.labels is None)]  # labels from the data: _record_run
        if changed:
            raise file_error(output_dir, f"holds a run made with other {', '.join(changed)}; resume it with "
                                         f"the same flags, or choose another --output_dir")
        return latest
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / TRAIN_INFO_FILE).is_file():
        raise file_error(output_dir, "holds files but no bertvino training run (a model directory?); training "
                                     "writes bert_config.json and vocab.txt there: choose a new --output_dir")
    make_directory(output_dir)
    write_text_atomically(output_dir / "bert_config.json", config.to_json_string())
    if Path(options.vocab_file).resolve() != (output_dir / "vocab.txt").resolve():
        shutil.copyfile(options.vocab_file, output_dir / "vocab.txt")
    return None


def _finished(output_dir: Path, latest: str | None) -> dict | None:
    """The evaluation of a run that already ran to its end: eval_results.txt is written only after the last step,
    and records that step, so it matches the newest checkpoint exactly when nothing is left to do."""
    results = read_eval_results(output_dir) if latest else None
    if results and str(results.get("global_step")) == latest.rpartition("-")[2]:
        return results
    return None


def _record_run(options, output_dir: Path, resumed_from: str | None):
    """Write train_info.json for a new run; for a resumed one, check that the data gives the labels it had."""
    record = {key: _jsonable(getattr(options, key)) for key in TrainingOptions.RESUME_KEYS}
    if resumed_from:
        previous = read_train_info(output_dir)
        if previous.get("labels") != record["labels"]:
            raise file_error(output_dir, f"holds a run with the labels {','.join(previous.get('labels') or [])}, "
                                         f"but the data has {','.join(record['labels'])}; resume it with the same "
                                         f"data, or choose another --output_dir")
        return
    record.update(init_checkpoint=options.init_checkpoint, bert_config_file=options.bert_config_file)
    write_train_info(output_dir, record)


def _check_options(options):
    checks = [
        (options.max_seq_length >= 3, "--max_seq_length must be at least 3"),
        (options.train_batch_size >= 1, "--train_batch_size must be at least 1"),
        (options.eval_batch_size >= 1, "--eval_batch_size must be at least 1"),
        (options.learning_rate > 0 and math.isfinite(options.learning_rate), "--learning_rate must be positive"),
        (options.num_train_epochs > 0, "--num_train_epochs must be positive"),
        (0 <= options.warmup_proportion < 1, "--warmup_proportion must be in [0, 1)"),
        (0 <= options.validation_fraction < 1, "--validation_fraction must be in [0, 1)"),
        (options.save_checkpoints_steps >= 1, "--save_checkpoints_steps must be at least 1"),
        (options.save_checkpoints_secs >= 0, "--save_checkpoints_secs must be 0 (off) or more"),
        (options.keep_checkpoint_max >= 1, "--keep_checkpoint_max must be at least 1"),
        (options.snippets >= 0, "--snippets must be 0 or more"),
        (0 < options.distill_threshold <= 1, "--distill_threshold must be in (0, 1]"),
        (options.distill_targets in ("filter", "soft"), "--distill_targets must be filter or soft"),
        (options.distill_targets == "filter" or options.distill_from, "--distill_targets soft needs a teacher: "
                                                                      "give --distill_from BUNDLE"),
        (options.distill_temperature > 0, "--distill_temperature must be above 0"),
        (0 <= options.distill_review_weight <= 1, "--distill_review_weight must be in [0, 1]"),
        (not options.distill_from or options.snippets, "--distill_from vets snippets: give --snippets too"),
        (options.labels is None or (len(options.labels) >= 2 and len(set(options.labels)) == len(options.labels)),
         "--labels needs at least two distinct labels"),
    ]
    for ok, message in checks:
        if not ok:
            raise BertvinoError(message)


def _jsonable(value):
    return list(map(str, value)) if isinstance(value, (list, tuple)) else value

