"""Each option's default is declared once, in its dataclass (TrainingOptions, ServeOptions and its Limits and
Timeouts) or beside the function it steers (score's batch size); the CLI's flags read it there. A flag given a
default of its own would make `bertvino train`, `serve` or `score` run differently from the same call in Python:
these tests parse a command line without those flags and compare."""

import inspect

from bertvino.cli import _dataclass_from_args, _serve_options_from_args, build_parser
from bertvino.infer.scoring import score
from bertvino.infer.serve_options import ServeOptions
from bertvino.train.options import TrainingOptions

REQUIRED = {"bert_config_file": "c.json", "vocab_file": "vocab.txt", "output_dir": "out", "data": ["reviews"]}


def test_train_flags_default_to_the_training_options():
    args = build_parser().parse_args(["train", "--data", "reviews", "--bert_config_file", "c.json", "--vocab_file",
                                      "vocab.txt", "--output_dir", "out"])
    assert _dataclass_from_args(TrainingOptions, args) == TrainingOptions(**REQUIRED)


def test_serve_flags_default_to_the_serve_options():
    args = build_parser().parse_args(["serve"])
    assert _serve_options_from_args(args) == ServeOptions()


def test_score_batch_size_defaults_to_score_s():
    default = inspect.signature(score).parameters["batch_size"].default
    assert build_parser().parse_args(["score", "reviews"]).batch_size == default == 32
