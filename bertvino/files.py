"""Reading and writing the small JSON and text files between stages, with the project's two rules built in:
a bad file is a one-line error naming it, and a written file appears whole or not at all."""

import json
import os
from pathlib import Path

from bertvino.errors import file_error


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
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomically(path, value):
    write_text_atomically(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")
