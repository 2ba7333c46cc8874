"""The options of `bertvino train` and their defaults, declared once: the CLI's flags read their defaults here, and
this module imports no TensorFlow, so building the parser never does."""

import dataclasses


@dataclasses.dataclass
class TrainingOptions:
    """The flags of `bertvino train`; names as `run_classifier.py`'s where it has them."""

    bert_config_file: str
    vocab_file: str
    output_dir: str
    data: list
    init_checkpoint: str | None = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    truncation: str = "head"
    train_batch_size: int = 32
    eval_batch_size: int = 32
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    save_checkpoints_steps: int = 1000
    save_checkpoints_secs: float = 300  # 0: by steps only
    keep_checkpoint_max: int = 5
    split: str | None = None
    eval_data: list | None = None
    eval_split: str | None = None
    validation_fraction: float = 0.1
    labels: tuple | None = None  # None: the labels found in --data (bertvino.core.labels.labels_from_data)
    no_dropout: bool = False
    seed: int = 12345
    snippets: int = 0
    snippet_sentences: int = 3  # a snippet is 1..N consecutive sentences
    distill_from: str | None = None
    distill_threshold: float = 0.9
    distill_targets: str = "filter"  # "filter": keep what the teacher agrees with; "soft": keep all, soft targets
    distill_temperature: float = 2.0  # soft: the teacher's softmax(logits / T)
    distill_review_weight: float = 0.5  # soft: target = w * review's label + (1 - w) * teacher's probabilities
    extra_data: list | None = None  # labelled texts trained on beside --data, after its validation split
    extra_repeat: int = 1  # each extra text appears this many times per epoch

    # The options that must not change when a run is resumed: they fix the data order and the schedule.
    RESUME_KEYS = ("data", "split", "labels", "max_seq_length", "truncation", "train_batch_size",
                   "num_train_epochs", "learning_rate", "warmup_proportion", "validation_fraction", "seed",
                   "no_dropout", "do_lower_case", "snippets", "snippet_sentences", "distill_from", "distill_threshold",
                   "distill_targets", "distill_temperature", "distill_review_weight", "extra_data",
                   "extra_repeat")
