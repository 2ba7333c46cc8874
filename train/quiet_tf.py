"""TensorFlow without its log noise, so that stderr shows bertvino's own lines.

Importing TensorFlow prints absl's "All log messages before absl::InitializeLog() ..." notice, a oneDNN banner (twice,
from two of its libraries) and a CPU-feature notice, whatever TF_CPP_MIN_LOG_LEVEL says, because they come before
TensorFlow reads it; later its Python logger warns that the v1 graph APIs the pipeline uses on purpose (for Google's
checkpoints) are deprecated. `import_tensorflow_quietly()` imports TensorFlow with stderr caught and thrown away when
the import works and nothing in it is an error, and turns TensorFlow's own loggers down to errors. `--verbose`
commands skip it and see everything.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

# absl's C++ log lines: "E0000 00:00:..." (severity letter E or F, then the date), as TensorFlow writes them.
_ERROR_LINE = re.compile(r"^[EF]\d{4} ", re.MULTILINE)


def import_tensorflow_quietly():
    """Import TensorFlow (once per process) with its start-up notices dropped; a failed import, or one that logged
    an error, shows everything it printed."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the C++ INFO/WARNING lines that come after the import
    with _stderr_to_file() as caught:
        try:
            import tensorflow as tf
        except BaseException:  # (a missing TensorFlow is told by the CLI, as for every extra)
            _replay(caught)
            raise
    output = _read(caught)
    if _ERROR_LINE.search(output):
        sys.stderr.write(output)
    tf.get_logger().setLevel(logging.ERROR)  # "WARNING:tensorflow:From ...: ... is deprecated"
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(tensorflow|keras|absl)\b")


@contextlib.contextmanager
def _stderr_to_file():
    """Point file descriptor 2 (where C++ code writes) at a temporary file for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    caught = tempfile.TemporaryFile()
    os.dup2(caught.fileno(), 2)
    try:
        yield caught
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _read(caught) -> str:
    caught.seek(0)
    text = caught.read().decode("utf-8", errors="replace")
    caught.close()
    return text


def _replay(caught):
    sys.stderr.write(_read(caught))
    sys.stderr.flush()
