"""The one exception type for user mistakes.

Anything a user can cause (a missing file, a corrupt checkpoint, a bad flag value) raises `BertvinoError` with a
message that names the file and the problem. The CLI prints that message on one line and exits non-zero, with no
traceback; anything else that escapes is a bug in bertvino and keeps its traceback.
"""

import re


class BertvinoError(Exception):
    """A user-facing error: `str(err)` is the whole one-line message."""


EXIT_SKIPPED = 3  # a command finished, but some inputs could not be used (each reported on stderr)


def file_error(path, problem: str) -> BertvinoError:
    """`BertvinoError` whose message starts with the file it is about: "path: problem"."""
    return BertvinoError(f"{path}: {problem}")


def first_line(err: BaseException) -> str:
    """The first meaningful line of another library's error message (OpenVINO's and TensorFlow's run to pages), or
    the exception's type when it has no message: enough to say what went wrong in a one-line error. OpenVINO's
    "Exception from src/...cpp:84:" and "Check '...' failed at ...:900:" lines say where in OpenVINO, not what."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    meaningful = [line for line in lines if not _SOURCE_LOCATION_LINE.match(line)]
    return (meaningful or lines or [type(err).__name__])[0]


_SOURCE_LOCATION_LINE = re.compile(r"^(Exception from \S+:\d+:|Check '.*' failed at \S+:\d+:)$")


class Interrupted(Exception):
    """A command stopped by SIGINT or SIGTERM: `str(err)` says what was kept and how to go on. The CLI exits with
    128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a process the signal killed."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


# The optional packages, by the extra of pyproject.toml that installs them.
EXTRAS = {"tensorflow": "train", "safetensors": "train", "nncf": "train",
          "starlette": "serve", "uvicorn": "serve", "prometheus_client": "serve", "grpc": "serve",
          "ray": "ray", "pyarrow": "ray", "matplotlib": "bench"}


def missing_extra(err: ImportError) -> BertvinoError | None:
    """The one-line error for an optional package that is not installed, naming the extra that installs it; None
    when `err` is about another module (a broken install, which keeps its traceback)."""
    module = (getattr(err, "name", None) or "").split(".")[0]
    if module not in EXTRAS:
        return None
    return BertvinoError(f"needs {module}, which is not installed: pip install 'bertvino[{EXTRAS[module]}]'")
