"""`BertConfig`: the model's shape, read from Google's `bert_config.json`.

It lives in the core package (not in `train/`) because freeze, convert and the bundle check all need the shape,
and none of them may import TensorFlow to get it.
"""

import dataclasses
import json

from .errors import file_error
from .files import read_json_object


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of Google's `bert_config.json`, with Google's defaults (BERT-base)."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02

    @classmethod
    def from_json_file(cls, path) -> "BertConfig":
        """Read and check a `bert_config.json`; every problem names the file."""
        values = read_json_object(path, "a BERT config, bert_config.json")
        return cls.from_dict(values, source=path)

    @classmethod
    def from_dict(cls, values: dict, source="bert_config.json") -> "BertConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        if "vocab_size" not in values:
            raise file_error(source, "not a BERT config: it has no 'vocab_size'")
        kwargs = {}
        for name, value in values.items():
            if name not in known:
                continue  # Google's configs carry extras (e.g. "directionality", "pooler_*") we do not use
            kind = known[name].type  # int, float or str
            accepted = (int, float) if kind is float else kind
            if isinstance(value, bool) or not isinstance(value, accepted):
                raise file_error(source, f"'{name}' must be {kind.__name__}, not {value!r}")
            kwargs[name] = kind(value)
        config = cls(**kwargs)
        config.check(source)
        return config

    def check(self, source="bert_config.json"):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) < 1:
                raise file_error(source, f"'{name}' must be positive, not {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise file_error(source, f"hidden_size {self.hidden_size} is not a multiple of "
                                     f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise file_error(source, f"hidden_act {self.hidden_act!r} is not one of {', '.join(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise file_error(source, f"'{name}' must be in [0, 1), not {getattr(self, name)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def without_dropout(self) -> "BertConfig":
        """The same model with every dropout rate 0: the second, dropout-free training pass."""
        return dataclasses.replace(self, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


# The activations Google's modeling.py accepts in `hidden_act` ("gelu" is its tanh approximation).
ACTIVATIONS = ("gelu", "relu", "tanh", "linear")
