"""The one exception type for user mistakes.

Anything a user can cause (a missing file, a corrupt checkpoint, a bad flag value) raises `BertvinoError` with a
message that names the file and the problem. The CLI prints that message on one line and exits non-zero, with no
traceback; anything else that escapes is a bug in bertvino and keeps its traceback.
"""


class BertvinoError(Exception):
    """A user-facing error: `str(err)` is the whole one-line message."""


def file_error(path, problem: str) -> BertvinoError:
    """`BertvinoError` whose message starts with the file it is about: "path: problem"."""
    return BertvinoError(f"{path}: {problem}")


def first_line(err: BaseException) -> str:
    """The first line of another library's error message (OpenVINO's and TensorFlow's run to pages), or the
    exception's type when it has no message: enough to say what went wrong in a one-line error."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
