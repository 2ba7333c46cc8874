"""What the service refuses, and how it says so, whatever protocol a request came in by (TF Serving REST, Open
Inference REST or gRPC): one `ApiError` carries an HTTP status, a one-line message and a reason for the error
metric; the gRPC front end maps the status to its own codes. The checks on the texts themselves live here too, so
a text refused over one protocol is refused, with the same words, over the others."""

import json

from ..core.errors import first_line

RETRY_AFTER_SECONDS = 1  # what a 503 tells the client to wait: a batch takes well under a second


class ApiError(Exception):
    """A request the service refuses: HTTP `status`, a one-line `message`, a `reason` for the error metric, and
    the response's extra `headers`."""

    def __init__(self, status: int, message: str, reason: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers


def come_back_later(message: str, reason: str) -> ApiError:
    """503 with Retry-After: the request was fine, the service cannot take it right now."""
    return ApiError(503, f"{message}; retry in {RETRY_AFTER_SECONDS} s", reason,
                    {"Retry-After": str(RETRY_AFTER_SECONDS)})


def check_texts(texts: list, limits, what: str = "instances") -> list:
    """`texts` if the service will classify them, else ApiError naming the first bad one as `what[index]`:
    413 for more than `limits.max_instances` of them, 400 for one that is not a string, is empty or only
    whitespace, or is longer than `limits.max_chars` characters."""
    check_count(len(texts), limits, "instances" if what == "instances" else "texts")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(400, f"{what}[{index}] is not a string but {json_type(text)}", "bad_instance")
        if not text.strip():
            raise ApiError(400, f"{what}[{index}] is {'empty' if not text else 'only whitespace'}: there is "
                                f"nothing to classify", "bad_instance")
        if len(text) > limits.max_chars:
            raise ApiError(400, f"{what}[{index}] has {len(text)} characters, over the limit of "
                                f"{limits.max_chars}", "instance_too_long")
    return texts


def check_count(count: int, limits, what: str = "texts") -> None:
    """413 for more than `limits.max_instances` texts in one request."""
    if count > limits.max_instances:
        raise ApiError(413, f"{count} {what} in one request is over the limit of {limits.max_instances}: split "
                            f"them over several requests", "too_many_instances")


def json_type(value) -> str:
    """How a JSON reader would name `value`'s type in a message: "an object", "a number", "null"..."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_instances(body: bytes, limits) -> list:
    """The texts of a TF Serving predict (or :explain) request, or ApiError saying exactly what is wrong with it."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, or nested too deep to parse
        raise ApiError(400, f"the body is not valid JSON: {first_line(err)}", "bad_json") from None
    if not isinstance(request, dict):
        raise ApiError(400, 'the body must be a JSON object: {"instances": ["a text", ...]}', "bad_request")
    if "instances" not in request:
        hint = ' ("inputs" is not supported: send the texts as "instances")' if "inputs" in request else ""
        raise ApiError(400, f'the body has no "instances" list{hint}', "bad_request")
    instances = request["instances"]
    if not isinstance(instances, list):
        raise ApiError(400, f'"instances" must be a list of strings, not {json_type(instances)}', "bad_request")
    if not instances:
        raise ApiError(400, '"instances" is empty: send at least one text', "bad_request")
    return check_texts(instances, limits)
