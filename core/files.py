"""Reading and writing the files between stages, with the project's two rules built in: a bad file is a one-line
error naming it, and a written file or directory appears whole or not at all."""

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from .errors import file_error

# OSError numbers that mean "this cannot be written here": a full disk or quota, a file over the size limit, a
# read-only file system. Raised by a read, none of them is likely, so a failing block that writes its output can
# blame its output for them.
CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def read_json_object(path, what: str) -> dict:
    """A JSON object from `path`; `what` names the file in errors ("a BERT config", "a model config")."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise file_error(path, f"no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise file_error(path, f"cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise file_error(path, f"not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise file_error(path, f"not {what}: expected a JSON object")
    return value


def write_text_atomically(path, text: str):
    """Write a temporary file beside `path` and rename it over `path`: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a directory in the way, no permission: the old file stays as it was
        if tmp.is_file():
            tmp.unlink()
        raise cannot_write(path, err) from None


def check_writable(path, what: str = "output file"):
    """Fail before the work rather than after it: `path` must be a file this process can create or replace.
    Tries it, with a temporary file beside `path` that is removed at once."""
    path = Path(path)
    if path.is_dir():
        raise file_error(path, f"is a directory; the {what} needs a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise cannot_write(path, err) from None


def make_directory(path):
    """`mkdir -p path`, with a one-line error when something is in the way."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(path, err) from None


def cannot_write(path, err: OSError):
    """The one-line error for an OSError met while writing `path`."""
    return file_error(path, f"cannot write here: {err.strerror or err}")


def write_json_atomically(path, value):
    write_text_atomically(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path, replace: bool = False):
    """Make the directory `path` whole or not at all: the block fills the hidden staging directory it is given
    (`.NAME.partial-XXXXXXXX` beside `path`), which is renamed to `path` when the block ends without error and
    removed on any error or Ctrl-C. A killed process leaves only the staging directory, never a `path` that looks
    finished.

    `path` may be absent or an empty directory; `replace=True` also lets it take the place of an existing one (the
    caller decides what may be replaced: a bundle may, a user's folder of notes may not).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise file_error(path, "exists and is not a directory")
    if not replace and path.is_dir() and any(path.iterdir()):
        raise file_error(path, "directory is not empty; refusing to overwrite it")
    make_directory(path.parent)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()  # not tempfile.mkdtemp: its 0700 would become the finished directory's mode
    except OSError as err:
        raise cannot_write(path, err) from None
    try:
        yield staging
        if not path.exists():
            staging.rename(path)
        elif not any(path.iterdir()):
            path.rmdir()
            staging.rename(path)
        else:  # replace: move the old one aside, put the new one in place, then delete the old one
            old = staging.with_name(staging.name.replace(".partial-", ".old-"))
            path.rename(old)
            staging.rename(path)
            shutil.rmtree(old)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        if err.errno in CANNOT_WRITE:  # a full disk while filling the staging directory: nothing was published
            raise cannot_write(path, err) from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def portable_path(path) -> str:
    """`path` as provenance records it: unchanged when relative, relative to the working directory when inside it,
    else its last three parts ("imdb-minilm/pass2/model.ckpt-156"). It names what was used without the build
    machine's directories, which mean nothing (and may say too much) wherever the bundle is shipped."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(Path(*path.parts[-3:]))


# An absolute path inside a longer string, such as a recorded command: a "/" that starts a word, then path parts.
ABSOLUTE_PATH_IN_TEXT = re.compile(r"(?<![\w.:/])/[\w.+-]+(?:/[\w.+-]+)*")


def portable_paths(value):
    """`value` (a dict or list from a JSON file, e.g. train_info.json) with every absolute path made portable,
    including those inside a recorded command line."""
    if isinstance(value, dict):
        return {key: portable_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable_paths(item) for item in value]
    if isinstance(value, str):
        return ABSOLUTE_PATH_IN_TEXT.sub(lambda match: portable_path(match.group()), value)
    return value
