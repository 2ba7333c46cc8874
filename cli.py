"""`bertvino`: one command, a subcommand per stage of the pipeline.

    import-hf  Hugging Face BERT         -> Google-format checkpoint  (TensorFlow)
    import-bundle  bundle's float IR     -> fine-tuned checkpoint     (OpenVINO + TensorFlow)
    train    checkpoint + reviews        -> fine-tuned checkpoint     (TensorFlow)
    soup     fine-tuned checkpoints      -> their weights' mean       (TensorFlow)
    freeze   fine-tuned checkpoint       -> bundle with frozen.pb     (TensorFlow)
    convert  bundle                      -> bundle with OpenVINO IR   (OpenVINO)
    classify text                        -> label and probabilities   (OpenVINO + NumPy)
    score    review files                -> CSV/JSONL rows + metrics  (OpenVINO + NumPy)
    calibrate bundle + labelled reviews  -> calibration in bundle.json (OpenVINO + NumPy)
    validate bundle + labelled reviews   -> bf16/int8 accuracy against f32, recorded for auto's guard
    info     bundle                      -> its metadata and provenance, and the path auto runs here
    tune     bundle                      -> auto's paths timed on this machine, cached
    bench    bundle                      -> latency, throughput, % of the compute floor
    serve    bundle                      -> HTTP service with dynamic batching (OpenVINO; serve extra)

Each stage's module is imported only when its subcommand runs, so `classify` never loads TensorFlow. User
mistakes raise `BertvinoError`, printed here as one line on stderr with exit status 1.
"""

import argparse
import codecs
import dataclasses
import inspect
import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .core.bundle import WEIGHT_FORMATS
from .core.errors import EXIT_SKIPPED, BertvinoError, Interrupted, missing_extra
from .core.features import MAX_BATCH_TOKENS
from .core.files import CANNOT_WRITE
from .infer.precision import PATH_CHOICES

EXIT_ERROR = 1


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(_ray_alone(sys.argv[1:] if argv is None else list(argv)))
    # SIGTERM ends a command as Ctrl-C does: with a word, not silently (Python takes signals in its main thread only).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        if getattr(args, "verbose", None) is False:  # a TensorFlow command (they have --verbose), not verbose
            from .train.quiet_tf import import_tensorflow_quietly
            import_tensorflow_quietly()
        return args.run(args) or 0
    except BertvinoError as err:
        print(f"bertvino {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Interrupted as err:
        print(f"bertvino {args.command}: {err}", file=sys.stderr)
        return 128 + err.signum
    except ModuleNotFoundError as err:
        if (missing := missing_extra(err)) is None:
            raise  # not an optional package: a broken install or a bug, which keeps its traceback
        print(f"bertvino {args.command}: error: {args.command} {missing}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"bertvino {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # `bertvino score ... | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as err:
        if err.errno not in CANNOT_WRITE:  # anything but a full disk or a read-only place keeps its traceback
            raise
        print(f"bertvino {args.command}: error: {f'{err.filename}: ' if err.filename else ''}cannot write: "
              f"{err.strerror}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)


RAY_ADDRESS = re.compile(r"auto|local|ray://\S+|[\w.-]+:\d+")


def _ray_alone(argv: list) -> list:
    """`--ray` followed by something that is no Ray address (`score --ray reviews/ -o x.csv`) becomes `--ray=local`,
    so the path stays a path: argparse would take it as --ray's optional ADDRESS and then miss PATH."""
    return [("--ray=local" if word == "--ray" and following is not None and not following.startswith("-")
             and not RAY_ADDRESS.fullmatch(following) else word)
            for word, following in zip(argv, [*argv[1:], None])]


def _terminate(signum, frame):
    raise Interrupted(signum, "stopped by SIGTERM")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage mistake told in one line like every other error (status 2, as argparse's)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="bertvino", description="Fine-tuned BERT text classifiers, from a Google-format checkpoint to fast "
                                     "CPU inference with OpenVINO.",
        epilog="Pipeline: [import-hf ->] train -> freeze -> convert -> classify. `bertvino COMMAND --help` "
               "explains each.")
    parser.add_argument("--version", action="version", version=f"bertvino {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, run, shared_options, add_options in COMMANDS:
        summary, _, description = inspect.getdoc(run).partition("\n\n")
        p = commands.add_parser(name, parents=shared_options, help=summary, description=description)
        add_options(p)
        p.set_defaults(run=run)
    return parser


# --- import-hf ---------------------------------------------------------------------------------------------------

def _import_hf_options(p):
    p.add_argument("hf_dir", help="the Hugging Face model directory")
    p.add_argument("--output", "-o", required=True, help="new directory for the Google-format checkpoint")
    _add_verbose(p)


def _run_import_hf(args):
    """Hugging Face BERT directory -> Google-format checkpoint (needs TensorFlow)

    Convert a Hugging Face BERT (config.json, vocab.txt, model.safetensors) into Google's layout
    (bert_config.json, vocab.txt, bert_model.ckpt.*) with Google's variable names, so `train` can fine-tune it.
    Heads are dropped; only BERT models are accepted.
    """
    from .train.import_hf import import_hf
    print(f"Wrote {import_hf(args.hf_dir, args.output)}")


# --- import-bundle -----------------------------------------------------------------------------------------------

def _import_bundle_options(p):
    p.add_argument("bundle", help="a bundle with a float IR (model.xml), e.g. models/imdb-minilm")
    p.add_argument("--output", "-o", required=True, help="new directory for the fine-tuned checkpoint")
    _add_verbose(p)


def _run_import_bundle(args):
    """bundle's float IR -> fine-tuned Google-format checkpoint, to train further (needs TensorFlow)

    Read every BERT weight back out of the bundle's float IR (model.xml) and its head out of weight.npy/bias.npy,
    and write them as a fine-tuned checkpoint (bert_model.ckpt.*, bert_config.json, vocab.txt): `train
    --init_checkpoint DIR` continues from it, e.g. a further dropout-free pass (--no_dropout) on new data, when only
    the bundle was kept. An FP16 IR gives FP16-rounded weights.
    """
    from .train.import_bundle import import_bundle
    print(f"Wrote {import_bundle(args.bundle, args.output)}")


# --- soup --------------------------------------------------------------------------------------------------------

def _soup_options(p):
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="two or more fine-tuned checkpoints (prefixes or run directories) that started from the "
                        "same checkpoint")
    p.add_argument("--output", "-o", required=True, help="new directory for the averaged checkpoint")
    _add_verbose(p)


def _run_soup(args):
    """fine-tuned checkpoints -> the mean of their weights, one checkpoint (a "model soup"; needs TensorFlow)

    Average, weight by weight, the BERT body and head of fine-tuned checkpoints that started from the same one
    (passes on different data, seeds or settings); `freeze` reads the result as it reads a training run. Such a mean
    is often better than each of them, for the cost of reading them: measure it on validation, as any candidate.
    """
    from .train.soup import soup
    soup(args.checkpoints, args.output)


# --- train -------------------------------------------------------------------------------------------------------

def _train_options(p):
    from .train.options import TrainingOptions as options  # the defaults' one home (imports no TensorFlow)

    p.formatter_class = _DefaultsShown  # train's many flags show their defaults
    flag = _flag_adder(p)
    flag("--data", nargs="+", required=True, metavar="PATH",
         help="training reviews: an aclImdb directory or its .tar.gz, folders with pos/ and neg/, CSV, JSONL")
    flag("--split", help="only reviews under this folder of --data (e.g. train for aclImdb)")
    flag("--bert_config_file", required=True, help="the model's bert_config.json")
    flag("--vocab_file", required=True, help="the model's vocab.txt")
    flag("--init_checkpoint", help="checkpoint to start from (prefix or directory): Google's pre-trained "
                                   "bert_model.ckpt, or pass 1's output for --no-dropout")
    flag("--output_dir", required=True, help="where checkpoints, eval_results.txt and train_info.json go")
    flag("--do_lower_case", type=_boolean, default=options.do_lower_case, metavar="BOOL",
         help="lower-case text (true for uncased models)")
    flag("--max_seq_length", type=_positive_int, default=options.max_seq_length,
         help="word pieces per review, [CLS] and [SEP] included")
    flag("--truncation", default=options.truncation,
         help="'head' keeps the start of long reviews; 'head+tail:H' keeps the first H and the last "
              "max_seq_length-2-H word pieces")
    flag("--train_batch_size", type=_positive_int, default=options.train_batch_size, help="reviews per training step")
    flag("--eval_batch_size", type=_positive_int, default=options.eval_batch_size,
         help="reviews per batch when validating")
    flag("--learning_rate", type=_positive_float, default=options.learning_rate,
         help="peak learning rate of AdamWeightDecay")
    flag("--num_train_epochs", type=_positive_float, default=options.num_train_epochs,
         help="passes over the training reviews (fractions allowed); steps = training reviews (after the "
              "validation hold-out) / train_batch_size x epochs")
    flag("--warmup_proportion", type=_fraction, default=options.warmup_proportion,
         help="fraction of steps with linear warm-up")
    flag("--save_checkpoints_steps", type=_positive_int, default=options.save_checkpoints_steps,
         help="save a checkpoint every this many steps")
    flag("--save_checkpoints_secs", type=_non_negative_float, default=options.save_checkpoints_secs,
         help="also save one every this many seconds (0: by steps only); Ctrl-C or SIGTERM saves one too")
    flag("--keep_checkpoint_max", type=_positive_int, default=options.keep_checkpoint_max,
         help="newest checkpoints kept; older ones are deleted")
    flag("--eval_data", nargs="+", metavar="PATH", help="validation reviews (else carved from --data)")
    flag("--eval_split", help="only reviews under this folder of --eval_data")
    flag("--validation_fraction", type=_fraction, default=options.validation_fraction,
         help="share of --data held out for validation (stratified, seeded) when no --eval_data; 0 for none")
    flag("--labels", type=_label_list, help="label names, in the head's order (default: those in --data, sorted; "
                                            "negative,positive for pos/neg, 1/0 or true/false)")
    flag("--no_dropout", action="store_true", help="the second pass: every dropout rate 0, all weights from "
                                                   "--init_checkpoint, a graph without random ops")
    flag("--seed", type=_seed, default=options.seed, help="fixes the validation split and the example order")
    flag("--snippets", type=_non_negative_int, default=options.snippets, metavar="N",
         help="also train on up to N snippets (1 to --snippet_sentences consecutive sentences) cut from each "
              "training review, labelled by their review, batched by length so they cost little: teaches the model "
              "short text")
    flag("--snippet_sentences", type=_positive_int, default=options.snippet_sentences, metavar="N",
         help="the most sentences a snippet holds; 1: single sentences")
    flag("--distill_from", metavar="BUNDLE", help="a bundle (e.g. an earlier model) that vets the snippets "
                                                  "through OpenVINO: keep only those it gives the review's label "
                                                  "with probability >= --distill_threshold")
    flag("--distill_threshold", type=_probability, default=options.distill_threshold,
         help="filter: the teacher probability a snippet needs to be kept")
    flag("--distill_targets", choices=("filter", "soft"), default=options.distill_targets,
         help="filter (default): keep the snippets the teacher agrees with, labelled by their review; soft: keep "
              "every snippet, its target a mix of its review's label and the teacher's probabilities")
    flag("--distill_temperature", type=float, default=options.distill_temperature, metavar="T",
         help="soft: the teacher's probabilities are softmax(logits / T)")
    flag("--distill_review_weight", type=float, default=options.distill_review_weight, metavar="W",
         help="soft: target = W x the review's label + (1 - W) x the teacher's")
    flag("--extra_data", nargs="+", metavar="PATH",
         help="more labelled texts (any input --data takes, e.g. a CSV of one-line reviews) trained on beside --data "
              "but never validated on: added after the validation split, so that split stays the same")
    flag("--extra_repeat", type=_positive_int, default=options.extra_repeat, metavar="N",
         help="each --extra_data text appears N times per epoch (a few thousand one-liners beside 100,000 texts)")
    _add_verbose(p)


def _run_train(args):
    """fine-tune a Google-format BERT checkpoint on labelled reviews (needs TensorFlow)

    Fine-tune BERT for classification as google-research/bert's run_classifier.py does, writing model.ckpt-N
    checkpoints to --output_dir. Re-running the same command resumes from the newest checkpoint there. With
    --no-dropout it is the second, dropout-free pass: start it from the first pass's checkpoint and write to a
    new directory. Flags take _ or - alike.
    """
    from .train.finetune import train
    from .train.options import TrainingOptions
    results = train(_dataclass_from_args(TrainingOptions, args))
    for key, value in sorted(results.items()):
        print(f"{key} = {value}")


# --- freeze ------------------------------------------------------------------------------------------------------

def _freeze_options(p):
    flag = _flag_adder(p)
    flag("--checkpoint", required=True, help="a fine-tuned checkpoint: its prefix (model.ckpt-1000) or directory")
    flag("--output", "-o", required=True, help="the bundle directory to write")
    flag("--bert_config_file", help="default: bert_config.json beside the checkpoint")
    flag("--vocab_file", help="default: vocab.txt beside the checkpoint")
    flag("--labels", type=_label_list, help="label names in the head's order (default: as trained, else "
                                            "negative,positive for a 2-way head)")
    flag("--max_seq_length", type=_positive_int,
         help="longest input inference will give the model (default: as trained, else 128)")
    flag("--do_lower_case", type=_boolean, metavar="BOOL", help="default: as trained, else true")
    flag("--truncation", help="'head' or 'head+tail:H' (default: as trained)")
    flag("--overwrite", action="store_true", help="replace an existing bundle at --output, its IR included "
                                                  "(without it, an existing bundle is refused)")
    _add_verbose(p)


def _run_freeze(args):
    """checkpoint -> bundle: frozen graph ending at the pooler, head as weight.npy/bias.npy

    Rebuild the inference graph (no dropout), restore the checkpoint's BERT weights into it (ignoring Adam
    slots, global_step and cls/*), freeze it at bert/pooler/dense/Tanh with inputs input_ids, input_mask,
    segment_ids, and write a bundle directory: frozen.pb, weight.npy, bias.npy, vocab.txt, bert_config.json,
    bundle.json. Options not given are taken from the training run that wrote the checkpoint (train_info.json),
    else from Google's defaults.
    """
    from .convert.freeze import freeze
    freeze(args.checkpoint, args.output, bert_config_file=args.bert_config_file, vocab_file=args.vocab_file,
           labels=args.labels, max_seq_length=args.max_seq_length, do_lower_case=args.do_lower_case,
           truncation=args.truncation, overwrite=args.overwrite)


# --- convert -----------------------------------------------------------------------------------------------------

def _convert_options(p):
    p.add_argument("bundle", help="a bundle directory written by `bertvino freeze` (or a converted one, for int8)")
    p.add_argument("--precision", choices=WEIGHT_FORMATS, default="fp32",
                   help="the IR's weight format: fp32 or fp16 weights for the float IR (fp16 halves them on disk; "
                        "outputs differ by ~1e-3); int8 quantizes the float IR with NNCF, calibrated on "
                        "--calibration reviews (faster only on CPUs with VNNI/AMX); default: %(default)s")
    p.add_argument("--validate", metavar="PATH", nargs="+",
                   help="with --precision int8: then measure the INT8 IR's accuracy against f32 on these labelled "
                        "reviews (held out: never the calibration reviews) and record it for auto's guard, as "
                        "`bertvino validate` does")
    p.add_argument("--validate-split", help="only reviews under this folder of --validate (e.g. test)")
    p.add_argument("--calibration-size", type=_positive_int, default=300,
                   help="reviews sampled for calibration (default: %(default)s)")


def _run_convert(args):
    """bundle's frozen graph -> float OpenVINO IR; float IR -> INT8 IR beside it

    Convert the bundle's frozen.pb with openvino.convert_model into model.xml/model.bin in the same bundle, with
    inputs input_ids, input_mask, segment_ids (int32, [batch, seq], dynamic) and output pooled_output. With
    --precision int8, quantize the bundle's float IR with NNCF into model-int8.xml/.bin beside it (no frozen.pb
    needed, so the shipped model can be quantized too); `--precision auto` at inference uses it once its
    accuracy is recorded: --validate HELD_OUT measures and records it (or `bertvino validate` later). Needs no
    TensorFlow; INT8 needs NNCF.
    """
    from .convert.ir import convert

    if args.validate and args.precision != "int8":
        raise BertvinoError("--validate measures an INT8 IR: use it with --precision int8 (bf16 needs no new IR: "
                            "`bertvino validate -m BUNDLE --data REVIEWS --precision bf16`)")
    if args.validate:
        from .infer.scoring import check_inputs
        check_inputs(args.validate, args.validate_split)  # a mistyped path fails now, not after quantizing
    convert(args.bundle, precision=args.precision, calibration=args.calibration,
            calibration_size=args.calibration_size, calibration_split=args.calibration_split)
    if args.validate:
        _validate_and_report(args.bundle, args.validate, args.validate_split, ("int8",), "CPU", "convert")


# --- classify ----------------------------------------------------------------------------------------------------

def _classify_options(p):
    p.add_argument("texts", nargs="+", metavar="TEXT", help="text to classify, or - for one text per stdin line")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per line: {"text", "label", "probabilities"}, or {"text", "error"}')
    _explain_options(p, "also say which words decided the label: each word's score is how much the label's "
                        "probability drops when the word is left out (+ supports the label, - speaks against "
                        "it); coloured on a terminal, word(+0.12) otherwise; with --json a \"words\" list of "
                        "{\"word\", \"start\", \"end\", \"score\"} (character spans [start, end) of the text)")


def _explain_options(p, help_text):
    from .infer.explain import DEFAULT_METHOD, METHODS

    p.add_argument("--explain", action="store_true", help=help_text)
    p.add_argument("--explain-method", choices=METHODS, default=DEFAULT_METHOD,
                   help="how --explain leaves a word out: delete its word pieces, or replace each by [MASK] or "
                        "[PAD] (default: %(default)s; docs/explain.md compares them)")


def _run_classify(args):
    """classify texts with a bundle on an OpenVINO device

    Print each text's label, probabilities and latency, one line per input in input order. '-' reads one text
    per line from stdin (UTF-8; blank lines count as inputs). An input that cannot be classified (empty, or not
    UTF-8) gets an error line in its place. Exit status: 0 when every input was classified, 3 when some got an
    error line, 1 when none could be classified or on an error.
    """
    from .core.bundle import load_bundle
    from .infer.classifier import Classifier
    from .models import find_model

    inputs = list(_classify_inputs(args.texts))
    if not inputs:
        raise BertvinoError("nothing to classify: stdin was empty")
    failed = sum(1 for _, problem in inputs if problem)
    if args.explain:
        from .infer.explain import annotated, coloured, explain
        # Colours only for a person at a terminal who has not asked for none (https://no-color.org).
        render = coloured if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else annotated
    classifier = None if failed == len(inputs) else Classifier(
        load_bundle(find_model(args.model)), device=args.device, precision=args.precision)
    if classifier:
        print(f"bertvino classify: {classifier.choice.line()}", file=sys.stderr, flush=True)
    for text, problem in inputs:
        if problem:
            print(_escaped(json.dumps({"text": text, "error": problem}, ensure_ascii=False)) if args.json else
                  f"{'error':<10} {problem}", flush=True)
            continue
        started = time.perf_counter()
        if args.explain:
            explanation = explain(classifier, [text], args.explain_method)[0]
            prediction = explanation.prediction
        else:
            prediction = classifier.predict([text])[0]
        latency_ms = (time.perf_counter() - started) * 1000
        if args.json:
            row = {"text": text, "label": prediction.label, "probabilities": prediction.probabilities}
            if args.explain:
                row.update(method=explanation.method, words=[word.as_dict() for word in explanation.words])
            print(_escaped(json.dumps(row, ensure_ascii=False)), flush=True)
        else:
            probabilities = "  ".join(f"{label} {p:.4f}" for label, p in prediction.probabilities.items())
            print(f"{prediction.label:<10} {probabilities}  {latency_ms:6.1f} ms  {_preview(text)}", flush=True)
            if args.explain:
                print(f"{'':<10} {render(explanation)}", flush=True)
    if failed == len(inputs):
        raise BertvinoError(f"none of the {_plural(failed, 'input')} could be classified (see the error lines)"
                            if failed > 1 else "the input could not be classified (see the error line)")
    if failed:
        print(f"bertvino classify: {failed} of {_plural(len(inputs), 'input')} could not be classified (see the "
              f"error lines)", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


def _classify_inputs(texts):
    """(text, problem) per input in order, problem None for a text to classify; '-' gives one per stdin line."""
    for text in texts:
        if text != "-":
            yield _checked_text(text.encode("utf-8", "surrogateescape"))  # argv keeps bytes not UTF-8 as escapes
            continue
        data = sys.stdin.buffer.read().removeprefix(codecs.BOM_UTF8)
        for line in data.splitlines():  # a last line without its newline is still an input; no newline, no input
            yield _checked_text(line)


def _checked_text(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return raw.decode("utf-8", "backslashreplace"), f"not UTF-8 (byte {err.start + 1})"
    return text, None if text.strip() else ("empty text" if not text else "only whitespace")


# --- score -------------------------------------------------------------------------------------------------------

def _score_options(p):
    from .infer.scoring import BATCH_SIZE  # the default's one home

    p.add_argument("paths", nargs="+", metavar="PATH", help="review files or directories")
    p.add_argument("-o", "--output", help="results file, .csv or .jsonl (default: CSV on stdout)")
    p.add_argument("--split", help="only reviews under this folder of each path (e.g. test for aclImdb)")
    p.add_argument("--resume", action="store_true", help="continue --output: skip the sources already in it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--batch-size", type=_positive_int, default=BATCH_SIZE,
                   help="most reviews per inference batch (default: %(default)s)")
    p.add_argument("--max-batch-tokens", type=_positive_int, default=MAX_BATCH_TOKENS, metavar="N",
                   help="most tokens per batch, padding included (reviews x the longest's length), so a batch of "
                        "long reviews holds no more activations than one of snippets (default: %(default)s)")
    p.add_argument("--metrics-json", metavar="FILE", help="also write counts, speed, peak memory and metrics to "
                                                          "this file")
    p.add_argument("--plot", metavar="PNG", help="draw the reliability diagram (accuracy and count per confidence "
                                                 "bin) beside the confusion matrix (needs the bench extra)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _explain_options(p, "add a top_words column: the words that support each review's label most, with how much "
                        "its probability drops without each (costs about one inference per word; not with --ray)")
    on_ray = p.add_argument_group(
        "Ray (pip install 'bertvino[ray]')",
        "--ray runs the same scoring as a Ray Data pipeline: reading and tokenizing in tasks, classifying in a pool "
        "of actors that each compile the model once. Its -o may also be a directory of Parquet files (a path "
        "ending in / or .parquet), one file per block.")
    on_ray.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="score on Ray: alone, a Ray started on this machine; 'auto', HOST:PORT or "
                             "ray://HOST:PORT joins a running cluster (a word after --ray that is none of these is "
                             "a PATH; --ray=ADDRESS is never ambiguous)")
    on_ray.add_argument("--ray-cpus", type=_positive_int, metavar="N",
                        help="CPUs of the local Ray that --ray starts (default: this machine's)")
    on_ray.add_argument("--ray-actors", type=_positive_int, metavar="N",
                        help="classifying actors (default: the cluster's CPUs / --ray-threads)")
    on_ray.add_argument("--ray-threads", type=_positive_int, metavar="N",
                        help="OpenVINO threads of each actor, also the CPUs it reserves in Ray "
                             "(default: a node's CPUs, so one actor per node)")
    on_ray.add_argument("--ray-bundle", choices=("auto", "path", "ship"), default="auto",
                        help="how workers get the model: its path (every node must read it there), shipped "
                             "through Ray's object store, or auto: the path when every node sees the same files "
                             "there (default: %(default)s)")
    on_ray.add_argument("--ray-block-rows", type=_positive_int, metavar="N",
                        help="reviews per block, the unit an actor classifies and a Parquet file holds "
                             "(default: 16 batches)")


def _run_score(args):
    """classify review files in bulk: CSV/JSONL rows, accuracy and F1 where labels are known

    Score every review under the given paths (aclImdb directories or their .tar.gz, folders with pos/ and neg/,
    CSV or JSONL with a text column, .txt files) with OpenVINO's asynchronous API, batching reviews of similar
    length. Rows are written and flushed as they finish (not in input order): source, label, p_<label> per
    label, gold. Where gold labels exist, prints accuracy, per-class precision/recall/F1, the confusion
    matrix and calibration (ECE over 15 bins of the top probability, NLL, Brier). A path that does not exist is an error before anything is scored; an unreadable file, or a bad
    review or row (reported with its line), is skipped and the rest scored. Exit status: 0 when every review was
    scored, 3 when some inputs were skipped (each is reported with its reason), 1 on an error or when every
    input was skipped.
    """
    from .core.bundle import load_bundle
    from .core.files import check_writable, write_json_atomically
    from .infer.bench import peak_rss_mb
    from .infer.classifier import Classifier
    from .infer.metrics import format_report
    from .infer.scoring import check_inputs, score
    from .models import find_model

    check_inputs(args.paths, args.split)  # a mistyped path fails now, not after the model is compiled
    if args.plot:
        import matplotlib  # noqa: F401  (a missing bench extra fails now, not after the scoring)
    for output in (args.output, args.metrics_json, args.plot):  # before the work, not after it
        if output and not (output is args.output and args.ray is not None):  # --ray's may be a directory
            check_writable(output)
    if args.ray is not None and args.explain:
        raise BertvinoError("--explain does not run on --ray yet: score without --ray")
    if args.ray is not None:
        summary = _ray_score(args)
    else:
        classifier = Classifier(load_bundle(find_model(args.model)), device=args.device,
                                performance_hint="THROUGHPUT", precision=args.precision, measure=True)
        summary = score(args.paths, classifier, output=args.output, resume=args.resume, overwrite=args.overwrite,
                        batch_size=args.batch_size, split=args.split, progress=not args.no_progress,
                        explain_method=args.explain_method if args.explain else None,
                        max_batch_tokens=args.max_batch_tokens,  # the path's line once the output is open:
                        on_start=lambda: print(f"bertvino score: {classifier.choice.line()}", file=sys.stderr,
                                               flush=True))  # a mistake in -o stays one line
    for source, reason in summary.skipped:
        print(f"bertvino score: skipped {source}: {reason}", file=sys.stderr)
    if summary.skipped and not summary.scored and not summary.already_done:
        raise BertvinoError("nothing was scored: every input was skipped (see above)")
    print(f"Scored {_plural(summary.scored, 'review')} in {summary.seconds:.1f} s ({summary.reviews_per_s:.1f} "
          f"reviews/s)" + (f"; {_plural(summary.already_done, 'review')} already in {args.output}"
                           if summary.already_done else "")
          + (f"; skipped {_plural(len(summary.skipped), 'input')}" if summary.skipped else ""), file=sys.stderr)
    if summary.metrics:
        print(format_report(summary.metrics), file=sys.stderr)
    if args.metrics_json:
        write_json_atomically(args.metrics_json, {
            "scored": summary.scored, "already_done": summary.already_done, "seconds": round(summary.seconds, 3),
            "reviews_per_s": round(summary.reviews_per_s, 2), "peak_rss_mb": peak_rss_mb(),
            "skipped": [{"source": source, "reason": reason} for source, reason in summary.skipped],
            "metrics": summary.metrics})
    if args.plot:
        if not (summary.metrics or {}).get("calibration"):
            raise BertvinoError(f"{args.plot}: not drawn: no scored review has a gold label of this model")
        from .infer.plots import reliability_plot
        reliability_plot(summary.metrics, args.plot, title=" ".join(str(path) for path in args.paths))
    return EXIT_SKIPPED if summary.skipped else 0


def _ray_score(args):
    """score --ray: the same summary from a Ray Data pipeline (Ray is imported only here)."""
    from .infer.ray_scoring import RayOptions, ray_score
    from .models import find_model

    options = RayOptions(address=args.ray, num_cpus=args.ray_cpus, actors=args.ray_actors,
                         threads=args.ray_threads, bundle=args.ray_bundle, block_rows=args.ray_block_rows)
    return ray_score(args.paths, find_model(args.model), options, output=args.output, resume=args.resume,
                     overwrite=args.overwrite, batch_size=args.batch_size, split=args.split,
                     progress=not args.no_progress, device=args.device,
                     precision=args.precision,
                     say=lambda line: print(f"bertvino score: {line}", file=sys.stderr))


# --- calibrate ---------------------------------------------------------------------------------------------------

def _calibrate_options(p):
    from .infer.calibration import METHODS
    p.add_argument("bundle", help="a converted bundle directory (its bundle.json gets the calibration)")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="labelled reviews, any input `score` reads; a validation split, never your test data")
    p.add_argument("--split", help="only reviews under this folder of each path (e.g. train for aclImdb)")
    p.add_argument("--method", choices=METHODS, default="length_temperature",
                   help="temperature: one T; length_temperature (default): T(n) = exp(a + b ln n) for a text of n "
                        "word pieces; bucket_temperature: one T per length range")
    p.add_argument("--precision", choices=("f32", "bf16", "int8"), default="f32",
                   help="the path whose logits are fitted on (default: %(default)s, the float model exactly); one "
                        "record serves every path")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="texts per batch (default: 64)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_calibrate(args):
    """fit the probabilities' calibration on labelled reviews and record it in the bundle

    Run the bundle on labelled reviews, fit a temperature (by default one that depends on each text's length in
    word pieces) that minimizes their negative log-likelihood, and write it into bundle.json with the data it was
    fitted on and ECE/NLL/Brier before and after. Every path (classify, score, serve, score --ray, the Python
    API) then divides the head's logits by it before the softmax; labels never change, only how sure they say
    they are. Fit on validation data that mixes the kinds of text the model will see, never on test data.
    """
    from .infer.calibrate import calibrate

    record = calibrate(args.bundle, args.data, split=args.split, method=args.method, device=args.device,
                       precision=args.precision, batch_size=args.batch_size, progress=not args.no_progress)
    before, after = record["before"], record["after"]
    print(f"Calibrated {args.bundle} on {_plural(record['fitted_on']['texts'], 'review')}: {record['description']}")
    for name in ("ece", "nll", "brier", "mean_confidence"):
        print(f"  {name:<16} {before[name]:.4f} -> {after[name]:.4f}")
    if record["fitted_on"]["skipped"]:
        print(f"bertvino calibrate: skipped {_plural(record['fitted_on']['skipped'], 'unreadable review')}",
              file=sys.stderr)


# --- info --------------------------------------------------------------------------------------------------------

def _info_options(p):
    p.add_argument("--json", action="store_true", help="print bundle.json, with the bundle's path, as JSON")


def _run_info(args):
    """show a bundle's metadata and which precision path this CPU takes

    Print what a bundle is: where it is, its labels, input length, truncation, precision, its IRs and how they
    were made (base model, data, accuracy), and which path `--precision auto` takes on this machine's CPU, and
    why.
    """
    from .core.bundle import load_bundle
    from .models import find_model

    bundle = load_bundle(find_model(args.model), require_ir=False)
    info = {"path": str(bundle.path.resolve()), "calibrated": _calibration_summary(bundle), **bundle.metadata}
    if bundle.has_ir:
        info["on_this_cpu"] = _path_on_this_cpu(bundle)
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return
    for key, value in info.items():
        _print_field(key, value)


def _calibration_summary(bundle) -> str:
    """Whether the bundle's probabilities are calibrated, and how, in one line."""
    from .infer.classifier import bundle_calibration
    calibration = bundle_calibration(bundle)
    if calibration is None:
        return "no: the model's own probabilities (bertvino calibrate fits a calibration)"
    record = bundle.calibration_record
    after = record.get("after") or {}
    return (f"yes: {calibration.describe()}" + (f"; ECE {record['before']['ece']} -> {after['ece']} on the data it "
                                                  "was fitted on" if "ece" in after and "before" in record else ""))


def _path_on_this_cpu(bundle) -> dict:
    """What `--precision auto` runs on this machine's CPU, and why: the measured table it picks from (if any), the
    guard of each path."""
    import openvino as ov

    from .infer.autotune import cached
    from .infer.autotune import choose_for_device
    from .infer.precision import detect_capabilities, guard

    core = ov.Core()
    capabilities = detect_capabilities(core)
    choice = choose_for_device(core, "CPU", bundle, "auto")
    entry = cached(bundle, capabilities) or {}
    return {"precision_auto": choice.path, "ir": choice.model_xml.name, "arithmetic": choice.hint,
            "why": choice.reason,
            "measured_seq_per_s": {path: f"{speed} (by length: {entry['by_length'][path]})"
                                   for path, speed in entry["seq_per_s"].items()} if entry else
                                  "not yet (score, serve, bench or `bertvino tune` measure it)",
            "measured_at": entry.get("measured_at", "never"),
            "guard": {path: ("passed: " if passed else "not passed: ") + why
                      for path in ("bf16", "int8") for passed, why in [guard(bundle, path)]},
            "fast_int8": list(capabilities.fast_int8) or "none", "amx": list(capabilities.amx) or "none",
            "native_bf16": capabilities.native_bf16}


# --- validate ----------------------------------------------------------------------------------------------------

def _validate_options(p):
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="labelled reviews the model was neither trained nor calibrated on: any input `score` reads "
                        "(an aclImdb directory or .tar.gz, pos/neg folders, CSV/JSONL with a label column)")
    p.add_argument("--split", help="only reviews under this folder of --data (e.g. test)")
    p.add_argument("--precision", type=_precision_list, metavar="PATHS",
                   help="paths to measure against f32, comma-separated from bf16, int8 (default: bf16 where this CPU "
                        "has it natively, and int8 when the bundle has an INT8 IR)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_validate(args):
    """measure bf16's and int8's accuracy against f32 on labelled reviews, and record it for auto's guard

    Score every review of --data with f32 and with each path (as `score` does), and write each path's accuracy,
    f32's accuracy on the same reviews and the share of identical labels into the bundle's bundle.json. auto runs
    a bf16 or int8 path only once this record shows it within 0.3 points of f32 and agreeing with f32 on 99 % of
    reviews. Exit status 0 when every measured path passed, 3 when one did not.
    """
    from .infer.precision import detect_capabilities
    from .infer.scoring import check_inputs
    from .core.bundle import load_bundle
    from .models import find_model

    check_inputs(args.data, args.split)
    bundle = load_bundle(find_model(args.model))
    paths = args.precision
    if paths is None:
        paths = tuple(path for path, usable in (("bf16", detect_capabilities().native_bf16),
                                                ("int8", bundle.has_int8_ir)) if usable)
        if not paths:
            raise BertvinoError(f"nothing to validate: this CPU has no native bf16 and {bundle.path} no INT8 IR "
                                "(pass --precision bf16 to measure emulated bf16 anyway)")
    return _validate_and_report(bundle.path, args.data, args.split, paths, args.device, "validate",
                                progress=not args.no_progress)


def _validate_and_report(bundle_path, data, split, paths, device, command, progress=True) -> int:
    """validate (for `validate` and `convert --validate`): one line per path, whether its guard passed."""
    from .core.bundle import load_bundle
    from .infer.accuracy import validate

    results = validate(load_bundle(bundle_path), data, paths, split=split, device=device, progress=progress,
                       command=" ".join(["bertvino", *sys.argv[1:]]) if sys.argv[1:2] == [command] else None,
                       say=lambda line: progress and print(f"bertvino {command}: {line}", file=sys.stderr, flush=True))
    for path, (record, passed, why) in results.items():
        print(f"{path}: {100 * record['accuracy']:.2f} % vs f32 {100 * record['float_accuracy']:.2f} % on "
              f"{record['reviews']:,} reviews, {100 * record['agreement']:.2f} % same labels: guard "
              f"{'passed' if passed else 'NOT passed'}" + ("" if passed else f" ({why})"))
    print(f"Recorded in {Path(bundle_path) / 'bundle.json'}")
    return 0 if all(passed for _, passed, _ in results.values()) else EXIT_SKIPPED


# --- tune --------------------------------------------------------------------------------------------------------

def _tune_options(p):
    """tune has only -m: auto measures the CPU (on other devices it leaves the arithmetic to the device)."""


def _run_tune(args):
    """time the paths auto may run on this machine, and cache the result (a few seconds)

    Compile each path auto may run (f32; bf16 where native and int8 where the bundle has an INT8 IR, each once its
    accuracy guard passed), time them interleaved at two of the bundle's lengths, and cache the table in bertvino's
    cache directory ($BERTVINO_CACHE_DIR, else $XDG_CACHE_HOME/bertvino or ~/.cache/bertvino) for this CPU,
    OpenVINO version and IR. classify, score and serve then pick from it; score and serve measure by themselves
    when no table is cached, classify does not. `bertvino bench` refreshes it too.
    """
    import openvino as ov

    from .core.bundle import load_bundle
    from .infer.autotune import measure_and_save
    from .infer.precision import choose_precision, detect_capabilities, usable_paths
    from .models import find_model

    bundle = load_bundle(find_model(args.model))
    core = ov.Core()
    capabilities = detect_capabilities(core)
    usable, refused = usable_paths(capabilities, bundle)
    for path, why in refused.items():
        print(f"{path}: not measured: {why}")
    if usable == ["f32"]:
        print("f32 is the only path auto may run here: nothing to measure")
        return 0
    table, where = measure_and_save(bundle, capabilities, usable, core, "CPU")
    for path, speed in table["seq_per_s"].items():
        lengths = ", ".join(f"{n} tokens {v}" for n, v in table["by_length"][path].items())
        print(f"{path}: {speed} seq/s (batch {table['batch']}; {lengths})")
    print(f"auto: {choose_precision(capabilities, bundle, 'auto', measured=table['seq_per_s']).line()}")
    print(f"Measured in {table['seconds']} s; {where}")


def _print_field(key, value, indent=0):
    """One line per field; a dict (provenance) as an indented block."""
    if isinstance(value, dict):
        print(f"{' ' * indent}{key}:")
        for sub_key, sub_value in value.items():
            _print_field(sub_key, sub_value, indent + 2)
    elif isinstance(value, list):
        print(f"{' ' * indent}{key}: {', '.join(map(str, value))}")
    else:
        print(f"{' ' * indent}{key}: {'none' if value is None else value}")


# --- bench -------------------------------------------------------------------------------------------------------

def _bench_options(p):
    p.add_argument("--lengths", type=_int_list, default=(64, 128, 256, 512), help="sequence lengths "
                                                                                  "(default: 64,128,256,512)")
    p.add_argument("--precision", "--inference-precision", dest="precision", type=_precision_list,
                   default=("f32", "bf16", "int8"),
                   help="precision paths to measure, comma-separated from auto, int8, bf16, f32 (default: "
                        "f32,bf16,int8; auto is the one `classify` takes here)")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="batch size for throughput (default: 8)")
    p.add_argument("--seconds", type=_positive_float, default=3.0, help="time per measurement (default: 3)")
    p.add_argument("--no-tensorflow", action="store_true", help="skip the TensorFlow baseline")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the results as a Markdown table, and the chart beside "
                                                      "it (FILE with .png)")
    p.add_argument("--chart", metavar="PNG", help="write the chart here (default: beside --markdown)")


def _quantize(*args, **kwargs):
    """convert's INT8 step, handed to bench (infer/ may not import convert: NNCF and TensorFlow live there)."""
    from .convert.ir import quantize

    return quantize(*args, **kwargs)


def _open_frozen_graph(frozen_pb):
    """TensorFlow on a frozen graph, for bench's baseline rows; ImportError without the train extra."""
    from .convert.tf_runtime import FrozenGraph
    from .train.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()  # its start-up lines would land in the middle of the measurements
    return FrozenGraph(frozen_pb)


def _run_bench(args):
    """measure latency and throughput per precision path and length, against each arithmetic's peak

    Batch-1 latency (p50/p95), the engine's throughput (the IR alone on pre-made inputs, as benchmark_app) and
    the pipeline's (tokenization, padding and Python included, as `score`) at several sequence lengths, for each
    precision path (f32; bf16 where the CPU has it; int8 with the bundle's INT8 IR, or one quantized in the run
    from --calibration reviews), each as a share of its own arithmetic's peak, measured by OpenVINO on a large
    MatMul in the same run; TensorFlow on the bundle's frozen.pb when both exist; the cold start of `classify`.
    Writes a Markdown table and a PNG chart (with the bench extra: pip install 'bertvino[bench]').
    """
    from .core.files import check_writable, write_json_atomically, write_text_atomically
    from .infer import bench
    from .models import find_model

    for output in (args.json, args.markdown, args.chart):  # before minutes of measuring, not after them
        if output:
            check_writable(output)
    results = bench.run(find_model(args.model), lengths=args.lengths, paths=args.precision,
                        batch_size=args.batch_size, seconds=args.seconds, calibration=args.calibration,
                        calibration_split=args.calibration_split, quantize=_quantize,
                        open_frozen_graph=None if args.no_tensorflow else _open_frozen_graph, device=args.device)
    results["machine"] = bench.describe_machine()
    png = args.chart or (Path(args.markdown).with_suffix(".png") if args.markdown else None)
    if png:
        partial = Path(png).with_name(Path(png).name + ".partial.png")
        note = bench.chart(results, partial)
        if note:
            results["notes"].append(note)
        else:
            os.replace(partial, png)
            results["chart"] = Path(png).name
    table = bench.markdown(results, results["machine"])
    print(table)
    if args.json:
        write_json_atomically(args.json, results)
    if args.markdown:
        write_text_atomically(args.markdown, table + (f"\n![latency and throughput by length]({results['chart']})\n"
                                                      if results.get("chart") else ""))


# --- serve -------------------------------------------------------------------------------------------------------

def _serve_options(p):
    from .infer.serve_options import Limits as limits, ServeOptions as options, Timeouts as timeouts  # defaults

    p.add_argument("--host", default=options.host,
                   help="address to listen on (default: %(default)s); beyond loopback, set an API key and TLS")
    p.add_argument("--port", type=_port, default=options.port,
                   help="TCP port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--grpc-port", type=_port, metavar="PORT",
                   help="also serve the Open Inference Protocol over gRPC on this port (0 picks a free one; "
                        "default: no gRPC)")
    p.add_argument("--model-name", help="NAME in the URLs (default: the bundle directory's name)")
    p.add_argument("--model-repository", metavar="DIR",
                   help="serve every model of DIR, laid out DIR/NAME/VERSION/ (each VERSION a whole number holding "
                        "a bundle), instead of -m: newest version by default, older ones by version, new ones "
                        "picked up and removed ones drained without a restart")
    p.add_argument("--poll-seconds", type=_positive_float, default=options.poll_seconds, metavar="SECONDS",
                   help="how often --model-repository is scanned for changes (default: %(default)s)")
    key = p.add_mutually_exclusive_group()
    key.add_argument("--api-key", metavar="KEY",
                     help="require 'Authorization: Bearer KEY' (gRPC: the same metadata) on every request but the "
                          "health checks; also from the environment variable BERTVINO_API_KEY (default: none)")
    key.add_argument("--api-key-file", metavar="FILE", help="--api-key read from FILE, which keeps it out of `ps`")
    p.add_argument("--ssl-certfile", metavar="PEM", help="TLS certificate (chain) for both ports; with --ssl-keyfile")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="TLS private key; with --ssl-certfile")
    p.add_argument("--max-batch-size", type=_positive_int, default=options.max_batch_size,
                   help="most texts classified together (default: %(default)s)")
    p.add_argument("--max-wait-ms", type=_non_negative_float, default=options.max_wait_ms,
                   help="longest the first text of a batch waits for others to join it (default: %(default)s); 0 "
                        "batches only what piles up while the device is busy")
    p.add_argument("--max-body-bytes", type=_positive_int, default=limits.max_body_bytes,
                   help="larger request bodies get 413 (default: %(default)s)")
    p.add_argument("--max-instances", type=_positive_int, default=limits.max_instances,
                   help="requests with more texts get 413 (default: %(default)s)")
    p.add_argument("--max-chars", type=_positive_int, default=limits.max_chars,
                   help="a longer text gets 400 (default: %(default)s)")
    p.add_argument("--max-in-flight", type=_positive_int, default=limits.max_in_flight,
                   help="predict requests received and not yet answered beyond which new ones get 503 with "
                        "Retry-After (default: %(default)s)")
    p.add_argument("--headers-timeout", type=_positive_float, default=timeouts.headers, metavar="SECONDS",
                   help="a connection whose request headers are not complete this long after it opened (or after "
                        "its previous response) is closed (default: %(default)s)")
    p.add_argument("--body-timeout", type=_positive_float, default=timeouts.body, metavar="SECONDS",
                   help="a request body not complete this long after its headers gets 408 (default: %(default)s)")
    p.add_argument("--keep-alive-timeout", type=_positive_float, default=timeouts.keep_alive, metavar="SECONDS",
                   help="an idle keep-alive connection is closed after this long (default: %(default)s)")
    p.add_argument("--shutdown-timeout", type=_positive_float, default=timeouts.shutdown, metavar="SECONDS",
                   help="on SIGTERM, the longest to wait for requests in progress (default: %(default)s)")
    on_ray = p.add_argument_group(
        "Ray Serve (pip install 'bertvino[ray]')",
        "--ray serves the same app (TF Serving and Open Inference Protocol REST; no gRPC) from Ray Serve "
        "replicas, each compiling the model once and batching its own requests; see docs/serving-protocols.md")
    on_ray.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="serve on Ray: no ADDRESS starts a local Ray; auto, HOST:PORT or ray://HOST:PORT joins "
                             "a running cluster")
    on_ray.add_argument("--replicas", type=_positive_int, default=1, metavar="N",
                        help="Ray Serve replicas, each a copy of the model (default: %(default)s)")
    on_ray.add_argument("--ray-threads", type=_positive_int, metavar="N",
                        help="OpenVINO threads of each replica, also the CPUs it reserves in Ray (default: the "
                             "cluster's CPUs / --replicas, at most a node's)")
    on_ray.add_argument("--ray-bundle", choices=("auto", "path", "ship"), default="auto",
                        help="how replicas get the bundle: path (every node reads it there), ship (through Ray's "
                             "object store), auto (path when every node sees it; default)")


def _run_serve(args):
    """serve a bundle over HTTP and gRPC with dynamic batching (TF Serving REST, Open Inference Protocol)

    Serve the classifier at POST /v1/models/NAME:predict with {"instances": ["text", ...]} (TensorFlow Serving)
    and POST /v2/models/NAME/infer (the Open Inference Protocol, KServe v2, as Triton's and OpenVINO Model
    Server's clients speak it; over gRPC too with --grpc-port), classifying texts from concurrent requests in
    shared batches; POST /v1/models/NAME:explain says which words decided each label, and GET / is a page to try
    the model in a browser. Also GET /v1/models/NAME (LOADING until warmed up, then AVAILABLE),
    /v1/models/NAME/metadata, /v2, /v2/models/NAME[/ready], /healthz, /v2/health/live, /v2/health/ready (after
    warm-up), /metrics (Prometheus) and /openapi.json. With --model-repository DIR, every model and version of
    DIR/NAME/VERSION/ is served (/v1/models/NAME/versions/V:predict, /v2/models/NAME/versions/V/infer), kept in step
    with the directory without a restart. Over --max-in-flight requests, clients get 503 with Retry-After. SIGTERM
    stops it after the requests in progress. With --ray [ADDRESS] --replicas N the same REST app runs on Ray Serve,
    on a local Ray or a cluster (ray extra). See docs/serving-protocols.md. Needs the serve
    extra: pip install 'bertvino[serve]'.
    """
    from .core.bundle import load_bundle
    from .models import find_model

    if args.ray is None and (args.replicas != 1 or args.ray_threads is not None):
        raise BertvinoError("--replicas and --ray-threads are for Ray Serve: add --ray")
    if args.model_repository is not None:
        if args.model is not None or args.model_name is not None:
            flag = "-m" if args.model is not None else "--model-name"
            print(f"bertvino serve: error: {flag} and --model-repository exclude each other: a repository names "
                  f"its models by their directories (see bertvino serve --help)", file=sys.stderr)
            return 2
        if args.ray is not None:
            raise BertvinoError("--ray serves one bundle (-m); --model-repository runs without Ray")
        from .infer.server import run
        return run(None, _serve_options_from_args(args))
    bundle, options = load_bundle(find_model(args.model)), _serve_options_from_args(args)
    if args.ray is not None:  # Ray is imported only here
        from .infer.ray_serving import serve_on_ray
        serve_on_ray(bundle, options, address=args.ray, replicas=args.replicas, threads=args.ray_threads,
                     bundle_mode=args.ray_bundle)
    else:
        from .infer.server import run
        run(bundle, options)


def _serve_options_from_args(args):
    from .infer.access import api_key
    from .infer.serve_options import Limits, ServeOptions, Timeouts

    timeouts = Timeouts(headers=args.headers_timeout, body=args.body_timeout, keep_alive=args.keep_alive_timeout,
                        shutdown=args.shutdown_timeout)
    return _dataclass_from_args(ServeOptions, args, limits=_dataclass_from_args(Limits, args), timeouts=timeouts,
                                api_key=api_key(args.api_key, args.api_key_file))


# --- options several commands share, declared once (argparse parent parsers) ------------------------------------

def _parent(*add_arguments) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    for add in add_arguments:
        add(parent)
    return parent


def _model_option(p):
    p.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")


def _device_option(p):
    p.add_argument("-d", "--device", default="CPU", help="OpenVINO device: CPU, GPU, AUTO, ... (default: CPU)")


def _precision_option(p):
    """--precision (alias --inference-precision, its name before INT8 IRs): which IR and arithmetic to run."""
    p.add_argument(
        "--precision", "--inference-precision", dest="precision", choices=PATH_CHOICES, default=None,
        help="the path to run. auto (default; or $BERTVINO_PRECISION): the fastest path measured on this machine "
             "among f32 and those whose accuracy passed the guard (bf16 where native, the bundle's INT8 IR); "
             "before a measurement, by the CPU's flags (`bertvino info` says which and why); int8, bf16, f32 "
             "force one; f32 is the float IR in f32 arithmetic, equal to TensorFlow's")


def _calibration_options(p):
    p.add_argument("--calibration", "--calibration-data", metavar="PATH", nargs="+",
                   help="reviews for INT8 calibration: any input `score` reads, e.g. aclImdb/train")
    p.add_argument("--calibration-split", help="only reviews under this folder of --calibration (e.g. train: "
                                               "never calibrate on the reviews you will test on)")


MODEL = _parent(_model_option)
DEVICE = _parent(_device_option)
RUNTIME = _parent(_model_option, _device_option, _precision_option)  # what running a model takes
CALIBRATION = _parent(_calibration_options)

# Every subcommand: its name, the function that runs it (whose docstring is its help: a one-line summary, a blank
# line, the description), the shared options it takes, and the function that declares its own.
COMMANDS = (
    ("import-hf", _run_import_hf, [], _import_hf_options),
    ("import-bundle", _run_import_bundle, [], _import_bundle_options),
    ("train", _run_train, [], _train_options),
    ("soup", _run_soup, [], _soup_options),
    ("freeze", _run_freeze, [], _freeze_options),
    ("convert", _run_convert, [CALIBRATION], _convert_options),
    ("classify", _run_classify, [RUNTIME], _classify_options),
    ("score", _run_score, [RUNTIME], _score_options),
    ("calibrate", _run_calibrate, [DEVICE], _calibrate_options),
    ("validate", _run_validate, [MODEL, DEVICE], _validate_options),
    ("info", _run_info, [MODEL], _info_options),
    ("tune", _run_tune, [MODEL], _tune_options),
    ("bench", _run_bench, [MODEL, DEVICE, CALIBRATION], _bench_options),
    ("serve", _run_serve, [RUNTIME], _serve_options),
)


def _dataclass_from_args(cls, args, **given):
    """`cls(...)` from the parsed flags whose names are its fields: argparse's dest names are the options' names,
    so a new option is added in two places (the flag and the field), not three."""
    fields = {field.name for field in dataclasses.fields(cls)} - set(given)
    return cls(**{name: value for name, value in vars(args).items() if name in fields}, **given)


# --- helpers -----------------------------------------------------------------------------------------------------

class _DefaultsShown(argparse.HelpFormatter):
    """Help that ends with "(default: X)" wherever a flag has a default to show (not for required flags and
    switches, whose default says nothing)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def _add_verbose(parser):
    """--verbose for the commands that run TensorFlow, whose own log lines are otherwise silenced."""
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines and warnings (silenced by default)")


def _flag_adder(parser):
    """add_argument that also accepts each --snake_case flag as --kebab-case, as run_classifier.py users type
    either."""
    def add(*names, **kwargs):
        spellings = list(names) + [n.replace("_", "-") for n in names if n.startswith("--") and "_" in n]
        return parser.add_argument(*spellings, **kwargs)
    return add


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def _label_list(value: str) -> tuple:
    from .core.labels import parse_label_list
    try:
        return parse_label_list(value)
    except BertvinoError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _whole_number(value: str, low: int, high: int | None = None) -> int:
    """An int in [low, high], else a usage error (exit 2) that names the range."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if number < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, not {number}")
    if high is not None and number > high:
        raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {number}")
    return number


def _positive_int(value: str) -> int:
    return _whole_number(value, 1)


def _non_negative_int(value: str) -> int:
    return _whole_number(value, 0)


def _port(value: str) -> int:
    return _whole_number(value, 0, 65535)


def _seed(value: str) -> int:
    return _whole_number(value, 0, 2**32 - 1)  # NumPy's seeds


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {value!r}")
    return number


def _positive_float(value: str) -> float:
    number = _number(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {value}")
    return number


def _non_negative_float(value: str) -> float:
    number = _number(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return number


def _probability(value: str) -> float:
    number = _number(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, not {value}")
    return number


def _fraction(value: str) -> float:
    number = _number(value)
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {value}")
    return number


def _int_list(value: str) -> tuple:
    try:
        numbers = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, not {value!r}") from None
    if not all(n >= 3 for n in numbers):
        raise argparse.ArgumentTypeError(f"every length must be at least 3: {value!r}")
    return numbers


def _precision_list(value: str) -> tuple:
    paths = tuple(part.strip() for part in value.split(","))
    if not paths or any(path not in PATH_CHOICES for path in paths):
        raise argparse.ArgumentTypeError(f"expected comma-separated paths from {', '.join(PATH_CHOICES)}, "
                                         f"not {value!r}")
    return paths


def _preview(text: str, width: int = 60) -> str:
    text = _escaped(" ".join(text.split()))
    return text if len(text) <= width else text[:width - 1] + "…"


# Characters a terminal acts on rather than shows: C0/C1 controls, DEL, and bidirectional overrides (which make
# text read differently from what it is). Echoed texts show them as \uXXXX, a valid escape in JSON too.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(text: str) -> str:
    return _UNSAFE_CHARACTERS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _plural(count: int, noun: str) -> str:
    """"1 review", "2 reviews": counts in messages read as English."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
