"""Finding and reading TensorFlow checkpoints, with errors a user can act on.

A user may name a checkpoint by its prefix (`model.ckpt-1000`, as `run_classifier.py` and Google's releases do:
`bert_model.ckpt`), or by the directory holding it (then its newest checkpoint is meant).
"""

from pathlib import Path

import tensorflow as tf

from ..core.errors import file_error, first_line


def resolve_checkpoint(path) -> str:
    """The checkpoint prefix that `path` names: a prefix as given, or a directory's newest checkpoint."""
    path = Path(path)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            indexes = sorted(path.glob("*.index"))
            if len(indexes) != 1:
                raise file_error(path, "no TensorFlow checkpoint in this directory (expected a `checkpoint` "
                                       "file or one `<prefix>.index`)")
            latest = str(indexes[0].with_suffix(""))
        return latest
    if Path(f"{path}.index").is_file():
        return str(path)
    if path.suffix in (".index", ".meta") or ".data-" in path.name:
        return resolve_checkpoint(str(path).split(".data-")[0].removesuffix(".index").removesuffix(".meta"))
    raise file_error(path, "no such checkpoint (looked for its .index file; give the prefix, "
                           "e.g. model.ckpt-1000, or the directory that holds it)")


# What TensorFlow raises on a damaged checkpoint: its own errors, or IndexError from the reader on a short file.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


def variable_shapes(prefix: str) -> dict[str, list[int]]:
    """{variable name: shape} of a checkpoint; a corrupt or half-copied one gets a clear error."""
    try:
        return dict(tf.train.list_variables(prefix))
    except READ_ERRORS as err:
        raise unreadable(prefix, err) from None


def load_variable(prefix: str, name: str):
    try:
        return tf.train.load_variable(prefix, name)
    except READ_ERRORS as err:
        raise unreadable(prefix, err) from None


def unreadable(prefix, err):
    """The error for a checkpoint TensorFlow cannot read: its first line of explanation, and the file."""
    return file_error(prefix, f"cannot read this checkpoint ({first_line(err)}); is it complete?")


def check_restorable(prefix: str, variables, what: str):
    """Raise unless every variable in `variables` is in the checkpoint with the same shape."""
    stored = variable_shapes(prefix)
    missing = [v.op.name for v in variables if v.op.name not in stored]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise file_error(prefix, f"{what}: the checkpoint lacks {', '.join(missing[:3])}{more}")
    for variable in variables:
        expected = variable.shape.as_list()
        if list(stored[variable.op.name]) != expected:
            raise file_error(prefix, f"{what}: {variable.op.name} has shape {list(stored[variable.op.name])} "
                                     f"in the checkpoint but {expected} in the model built from the config; "
                                     f"is bert_config.json the checkpoint's own?")

