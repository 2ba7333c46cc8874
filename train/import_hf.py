"""Import a Hugging Face BERT (`config.json`, `vocab.txt`, `model.safetensors`) as a Google-format checkpoint.

The result is the layout of Google's released models, so every later stage takes it as it takes theirs:

    output_dir/bert_config.json            Google's fields only
    output_dir/vocab.txt                   copied as it is
    output_dir/bert_model.ckpt.index       }  written by tf.compat.v1.train.Saver, with Google's names
    output_dir/bert_model.ckpt.data-*      }  (`bert/encoder/layer_0/attention/self/query/kernel`, ...)
    output_dir/import_info.json            where it came from, and what was changed on the way

Only the BERT body and pooler are imported. Hugging Face's PyTorch `Linear` stores its weight as [out, in];
Google's kernels are [in, out], so every dense weight is transposed. Heads (`cls.*` for pre-training, a
`classifier.*` from `BertForSequenceClassification`, ...) are dropped: fine-tuning adds its own.

One difference cannot be mapped away: Hugging Face's `"gelu"` is the exact (erf) GELU, Google's modeling.py only
has the tanh approximation. See `GELU_NOTES` for what that costs.

The files are written into a hidden temporary directory beside `output_dir`, which is renamed to `output_dir`
only when complete, so an interrupted import never leaves something that looks like a model.
"""

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from safetensors import SafetensorError
from safetensors.numpy import load_file

from ..core.config import BertConfig
from ..core.errors import file_error
from ..core.files import atomic_directory, read_json_object
from ..core.tokenization import load_vocab

tf1 = tf.compat.v1

CHECKPOINT_NAME = "bert_model.ckpt"
IMPORT_INFO_FILE = "import_info.json"

# Hugging Face's BertConfig defaults, for fields a (hand-written) config.json leaves out: the model is then read
# as transformers would read it. They are Google's, except type_vocab_size (Google's default is 16).
HF_DEFAULTS = {
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
    "initializer_range": 0.02,
}

# Hugging Face hidden_act -> Google's. Google's "gelu" is the tanh approximation.
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}

GELU_NOTES = {
    # Numbers from benchmarks/gelu_import_check.py (50 sentences, float64).
    "gelu": "Hugging Face's 'gelu' is the exact (erf) GELU; Google's modeling.py has only the tanh "
            "approximation, so outputs differ slightly from the PyTorch model's (on all-MiniLM-L6-v2: last hidden "
            "layer max abs difference 4.8e-3, mean 4.2e-4; mean-pooled sentence embeddings' cosine >= 0.999998)",
    "gelu_new": "Hugging Face's 'gelu_new' is the tanh-approximated GELU, the same function as Google's 'gelu'",
    "gelu_pytorch_tanh": "Hugging Face's 'gelu_pytorch_tanh' is the tanh-approximated GELU, the same function as "
                         "Google's 'gelu'",
}

# Google's LayerNorm epsilon, fixed in modeling.py.
GOOGLE_LAYER_NORM_EPS = 1e-12

# Prefixes (after any `bert.`) of the tensors that make up the BERT body; anything else is a head or a buffer.
BODY_PREFIXES = ("embeddings.", "encoder.", "pooler.")
IGNORED_TENSORS = ("embeddings.position_ids",)  # a buffer of 0..max_position-1, not a weight
PRETRAINING_HEADS = "cls."  # MLM and NSP heads: in every pre-trained BERT, dropped without a word


class Tensor(NamedTuple):
    """One Google variable and where it comes from: its Hugging Face names (without `bert.`, old name second),
    its Google shape, and whether the Hugging Face tensor is a [out, in] Linear weight to transpose."""

    google: str
    hf: tuple
    shape: tuple
    transpose: bool = False


def import_hf(hf_dir, output_dir) -> Path:
    """Import the Hugging Face BERT in `hf_dir` into the new directory `output_dir`; returns the checkpoint prefix
    `output_dir/bert_model.ckpt`. Everything is read and checked before anything is written."""
    hf_dir, output_dir = Path(hf_dir), Path(output_dir)
    check_output_dir(output_dir)
    config_path, vocab_path, weights_path = _input_files(hf_dir)

    hf_config = read_json_object(config_path, "a model config")
    config = _google_config(hf_config, config_path)
    _check_vocab(vocab_path, config.vocab_size)
    weights, created, dropped = _google_weights(_read_safetensors(weights_path), config, weights_path)

    notes = _notes(hf_config, config, created, dropped)
    for note in notes.values():
        print(f"import: {note}")
    info = {"source": str(hf_dir.resolve()), "model_type": hf_config.get("model_type"),
            "name_or_path": hf_config.get("_name_or_path"), "hf_hidden_act": hf_config.get("hidden_act", "gelu"),
            "dropped_tensors": dropped, "notes": notes}

    with atomic_directory(output_dir) as staging:
        write_checkpoint(weights, staging / CHECKPOINT_NAME)
        (staging / "bert_config.json").write_text(config.to_json_string(), encoding="utf-8")
        shutil.copyfile(vocab_path, staging / "vocab.txt")
        (staging / IMPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"Imported {hf_dir} -> {output_dir / CHECKPOINT_NAME} ({len(weights)} tensors, "
          f"{config.num_hidden_layers} layers, hidden size {config.hidden_size})")
    return output_dir / CHECKPOINT_NAME


def check_output_dir(output_dir: Path):
    """A new or empty directory only: importing over a model would mix two models' files."""
    if output_dir.exists() and not output_dir.is_dir():
        raise file_error(output_dir, "exists and is not a directory; give a new directory to import into")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        raise file_error(output_dir, "directory is not empty; give a new directory to import into")


def _input_files(hf_dir: Path):
    """The three files an import needs, each checked to exist, with a hint when it is a known other format."""
    if not hf_dir.is_dir():
        raise file_error(hf_dir, "no such directory (expected a Hugging Face BERT directory with config.json, "
                                 "vocab.txt and model.safetensors)")
    config_path, vocab_path, weights_path = hf_dir / "config.json", hf_dir / "vocab.txt", hf_dir / "model.safetensors"
    if not config_path.is_file():
        raise file_error(config_path, "no such file (the Hugging Face model config)")
    if not vocab_path.is_file():
        raise file_error(vocab_path, "no such file (BERT's WordPiece vocab; a tokenizer.json alone is not supported)")
    if not weights_path.is_file():
        raise file_error(weights_path, "no such file (pytorch_model.bin is not supported: convert the model to "
                                       "safetensors, e.g. save_pretrained(..., safe_serialization=True))")
    return config_path, vocab_path, weights_path


def _google_config(hf_config: dict, source: Path) -> BertConfig:
    """Google's config for a Hugging Face BERT config; anything Google's modeling.py cannot run is refused."""
    model_type = hf_config.get("model_type", "bert")  # configs from before transformers 2.x have none
    if model_type != "bert":
        raise file_error(source, f"model_type is {model_type!r}, not 'bert'; only BERT models can be imported")
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise file_error(source, f"position_embedding_type {position_type!r} is not supported (Google's BERT "
                                 f"has only 'absolute' position embeddings)")
    hidden_act = hf_config.get("hidden_act", "gelu")
    if hidden_act not in HF_ACTIVATIONS:
        raise file_error(source, f"hidden_act {hidden_act!r} is not supported (only {', '.join(HF_ACTIVATIONS)})")
    values = {name: hf_config.get(name, default) for name, default in HF_DEFAULTS.items()}
    values["hidden_act"] = HF_ACTIVATIONS[hidden_act]
    return BertConfig.from_dict(values, source=source)


def _check_vocab(vocab_path: Path, vocab_size: int):
    """The vocab must have exactly one line per embedding row, or token ids would pick the wrong rows."""
    vocab = load_vocab(vocab_path)  # also checks [PAD] [UNK] [CLS] [SEP] are there
    lines = max(vocab.values()) + 1  # every line gets an index, and the last line's token maps to the last one
    if lines != vocab_size:
        raise file_error(vocab_path, f"has {lines} tokens but config.json's vocab_size is {vocab_size}; "
                                     f"is it the model's own vocab?")


def _read_safetensors(path: Path) -> dict:
    try:
        return load_file(str(path))
    except TypeError as err:
        if "bfloat16" in str(err):
            raise file_error(path, "holds bfloat16 tensors, which NumPy cannot read; save the model in float32 "
                                   "(model.float().save_pretrained(...)) and import that") from None
        raise
    except (SafetensorError, OSError) as err:
        raise file_error(path, f"not a readable safetensors file ({err})") from None


def tensor_specs(config: BertConfig) -> list:
    """Every variable of Google's BERT body and pooler, in modeling.py's order."""
    hidden, intermediate = config.hidden_size, config.intermediate_size

    def dense(google, hf, inputs, outputs):
        return [Tensor(f"{google}/kernel", (f"{hf}.weight",), (inputs, outputs), transpose=True),
                Tensor(f"{google}/bias", (f"{hf}.bias",), (outputs,))]

    def layer_norm(google, hf):
        return [Tensor(f"{google}/gamma", (f"{hf}.weight", f"{hf}.gamma"), (hidden,)),
                Tensor(f"{google}/beta", (f"{hf}.bias", f"{hf}.beta"), (hidden,))]

    specs = [
        Tensor("bert/embeddings/word_embeddings", ("embeddings.word_embeddings.weight",),
               (config.vocab_size, hidden)),
        Tensor("bert/embeddings/token_type_embeddings", ("embeddings.token_type_embeddings.weight",),
               (config.type_vocab_size, hidden)),
        Tensor("bert/embeddings/position_embeddings", ("embeddings.position_embeddings.weight",),
               (config.max_position_embeddings, hidden)),
        *layer_norm("bert/embeddings/LayerNorm", "embeddings.LayerNorm"),
    ]
    for index in range(config.num_hidden_layers):
        google, hf = f"bert/encoder/layer_{index}", f"encoder.layer.{index}"
        for part in ("query", "key", "value"):
            specs += dense(f"{google}/attention/self/{part}", f"{hf}.attention.self.{part}", hidden, hidden)
        specs += dense(f"{google}/attention/output/dense", f"{hf}.attention.output.dense", hidden, hidden)
        specs += layer_norm(f"{google}/attention/output/LayerNorm", f"{hf}.attention.output.LayerNorm")
        specs += dense(f"{google}/intermediate/dense", f"{hf}.intermediate.dense", hidden, intermediate)
        specs += dense(f"{google}/output/dense", f"{hf}.output.dense", intermediate, hidden)
        specs += layer_norm(f"{google}/output/LayerNorm", f"{hf}.output.LayerNorm")
    specs += dense("bert/pooler/dense", "pooler.dense", hidden, hidden)
    return specs


def _google_weights(tensors: dict, config: BertConfig, source: Path):
    """{Google name: float32 array} from the Hugging Face tensors; the Google names made up; the Hugging Face
    names dropped.

    Names may carry `bert.` (BertFor* models) or not (BertModel). A missing pooler is created at random, as
    Google's code would initialise it; a missing tensor of the body, or one the config does not account for (a
    7th layer when config.json says 6), is an error.
    """
    prefix = "bert." if any(name.startswith("bert.") for name in tensors) else ""
    body = {name[len(prefix):]: name for name in tensors if name.startswith(prefix)}
    has_pooler = any(name.startswith("pooler.") for name in body)

    weights, created, used = {}, [], set()
    for spec in tensor_specs(config):
        if spec.google.startswith("bert/pooler/") and not has_pooler:
            weights[spec.google] = _new_pooler_variable(spec, config.initializer_range)
            created.append(spec.google)
            continue
        found = next((name for name in spec.hf if name in body), None)
        if found is None:
            raise file_error(source, f"lacks the tensor {prefix}{spec.hf[0]} (Google's {spec.google}); is it a BERT "
                                     f"with the shape config.json describes?")
        weights[spec.google] = _to_google(tensors[body[found]], spec, body[found], source)
        used.add(body[found])

    unused = [name for name in tensors if name not in used and name.removeprefix(prefix) not in IGNORED_TENSORS]
    unexpected = [name for name in unused if name.startswith(prefix) and name[len(prefix):].startswith(BODY_PREFIXES)]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise file_error(source, f"has the tensor {unexpected[0]}{more}, which a BERT as config.json describes "
                                 f"does not have; is config.json the model's own?")
    dropped = sorted(name for name in unused if not name.startswith(PRETRAINING_HEADS))
    return weights, created, dropped


def _to_google(array: np.ndarray, spec: Tensor, name: str, source: Path) -> np.ndarray:
    """A Hugging Face tensor as Google's float32 variable: shape checked, Linear weights transposed."""
    if not np.issubdtype(array.dtype, np.floating):
        raise file_error(source, f"tensor {name} has dtype {array.dtype}, expected floating point")
    expected = spec.shape[::-1] if spec.transpose else spec.shape
    if tuple(array.shape) != expected:
        raise file_error(source, f"tensor {name} has shape {list(array.shape)}, but config.json implies "
                                 f"{list(expected)}")
    array = array.astype(np.float32)
    return np.ascontiguousarray(array.T) if spec.transpose else array


def _new_pooler_variable(spec: Tensor, initializer_range: float) -> np.ndarray:
    """A pooler for a model saved without one (e.g. by some sentence-embedding trainers): kernel random normal
    with stddev initializer_range, bias zeros. Seeded, so importing the same model twice gives the same files."""
    if spec.google.endswith("/bias"):
        return np.zeros(spec.shape, np.float32)
    return np.random.default_rng(0).normal(0.0, initializer_range, spec.shape).astype(np.float32)


def _notes(hf_config: dict, config: BertConfig, created: list, dropped: list) -> dict:
    """What the import changed or made up, one line each: printed, and kept in import_info.json."""
    notes = {}
    hidden_act = hf_config.get("hidden_act", "gelu")
    if hidden_act in GELU_NOTES:
        notes["gelu"] = GELU_NOTES[hidden_act]
    eps = hf_config.get("layer_norm_eps", GOOGLE_LAYER_NORM_EPS)
    if eps != GOOGLE_LAYER_NORM_EPS:
        notes["layer_norm_eps"] = (f"config.json's layer_norm_eps is {eps}; Google's modeling.py always uses "
                                   f"{GOOGLE_LAYER_NORM_EPS}, so outputs differ slightly")
    if created:
        notes["pooler"] = (f"the model has no pooler: created one at random (kernel normal with stddev "
                           f"{config.initializer_range}, bias zeros); fine-tune before using pooled_output")
    if dropped:
        more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
        notes["dropped"] = f"dropped {', '.join(dropped[:3])}{more} (not part of BERT's body; a head is not imported)"
    return notes


def write_checkpoint(weights: dict, prefix: Path):
    """Save `weights` under their names with tf.compat.v1's Saver, as Google's checkpoints were written.

    The values are fed in, not put into the graph as constants: a GraphDef is limited to 2 GB, and BERT-large
    alone is 1.3 GB. No `checkpoint` state file (it would name the staging directory; `resolve_checkpoint` finds
    the single `.index` without it) and no `.meta` (nothing reads it: every stage builds its own graph).
    """
    graph = tf.Graph()
    with graph.as_default():
        feeds = {tf1.placeholder(tf.float32, value.shape): value for value in weights.values()}
        variables = [tf1.get_variable(name, initializer=placeholder)
                     for name, placeholder in zip(weights, feeds)]
        saver = tf1.train.Saver(variables)
        with tf1.Session() as session:
            session.run(tf1.variables_initializer(variables), feeds)
            saver.save(session, str(prefix), write_meta_graph=False, write_state=False)
