"""A client for `bertvino serve`, standard library only (urllib + json): it imports no OpenVINO and no NumPy, so any
Python program can use it.

    >>> from bertvino.client import Client
    >>> Client(port=8501).classify(["A moving, beautifully acted film."])
    [{'label': 'positive', 'probabilities': {'negative': 0.02, 'positive': 0.98}}]

`model_name=None` asks the server which model it serves (`GET /v1/models`, once per client): a server serves one
model, so there is nothing to choose. Pass the name to save that round trip, or to fail when the server serves
another model. Every failure raises `ServiceError`: `status` is the HTTP status, or None when there was no HTTP
answer (nothing listening, a timeout), `message` is the server's one-line reason, and `retry_after` the seconds a
503 (warming up, overloaded, shutting down) asks the client to wait before trying again. Proxy settings from the
environment are ignored: the client talks to the host it is given. For a server started with `--api-key`, pass
`api_key`; for one with TLS, `ssl_context` (e.g. `ssl.create_default_context(cafile="cert.pem")`), which makes the
URL https.
"""

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from .core.errors import BertvinoError


class ServiceError(BertvinoError):
    """The service refused a request or could not be reached; `str()` is one line."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Client:
    """Classifies texts on a running `bertvino serve`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8501, model_name: str | None = None,
                 timeout: float = 30, wait: float = 0, api_key: str | None = None, ssl_context=None):
        """`wait` > 0 waits up to that many seconds for the server to be ready (see `wait_until_ready`); `api_key`
        is sent as `Authorization: Bearer KEY`; an `ssl_context` makes it HTTPS."""
        scheme = "https" if ssl_context is not None else "http"
        self.base_url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
        self.model_name = model_name
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        handlers = [urllib.request.HTTPSHandler(context=ssl_context)] if ssl_context is not None else []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)
        if wait > 0:
            self.wait_until_ready(wait)

    def wait_until_ready(self, timeout: float = 30, interval: float = 0.2) -> None:
        """Poll GET /v2/health/ready until it answers 200, for a server that is still starting or warming up.

        Nothing listening yet and 503 (warming up) mean "not yet"; any other answer is raised at once, and so is
        the last reason when `timeout` seconds pass. A script that starts `bertvino serve` and then its client
        needs this: the port opens only once the model is loaded, and readiness follows the warm-up.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/v2/health/ready")
                return
            except ServiceError as err:
                if err.status not in (None, 503):
                    raise
                reason = err.message
            if time.monotonic() >= deadline:
                raise ServiceError(None, f"{self.base_url} was not ready within {timeout:g} s ({reason})")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def classify(self, texts) -> list:
        """[{"label": str, "probabilities": {label: p}}] for a list of texts, in order."""
        return self._per_text("classify", "predict", "predictions", texts)

    def explain(self, texts) -> list:
        """[{"label", "probabilities", "method", "words": [{"word", "start", "end", "score"}]}] for a list of texts,
        in order: which words decided each label (docs/explain.md)."""
        return self._per_text("explain", "explain", "explanations", texts)

    def _per_text(self, name: str, verb: str, key: str, texts) -> list:
        """POST the texts to :verb; the reply's `key` list, one item per text."""
        if isinstance(texts, str):
            raise TypeError(f"{name} takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        reply = self._call("POST", f"{self._model_path()}:{verb}", {"instances": texts})
        answers = reply.get(key) if isinstance(reply, dict) else None
        if not isinstance(answers, list) or len(answers) != len(texts):
            raise ServiceError(None, f"{self.base_url} answered without one {key[:-1]} per text")
        return answers

    def metadata(self) -> dict:
        """The model's labels, max_seq_length, precision and the server's request limits."""
        return self._call("GET", f"{self._model_path()}/metadata")["metadata"]

    def _model_path(self) -> str:
        if self.model_name is None:
            self.model_name = self._call("GET", "/v1/models")["models"][0]["name"]
        return f"/v1/models/{quote(self.model_name, safe='')}"

    def _call(self, method: str, path: str, body=None):
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={**self._headers,
                                                  **({"Content-Type": "application/json"} if data else {})})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise ServiceError(err.code, _error_message(err), _seconds(err.headers.get("Retry-After"))) from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise self._timed_out(method, path) from None
            reason = getattr(err.reason, "strerror", None) or err.reason
            raise ServiceError(None, f"cannot reach {self.base_url}: {reason}") from None
        except TimeoutError:
            raise self._timed_out(method, path) from None
        except OSError as err:  # e.g. the connection was reset mid-answer
            raise ServiceError(None, f"{method} {url} failed: {err}") from None
        try:
            return json.loads(payload)
        except ValueError:
            raise ServiceError(None, f"{url} answered with something that is not JSON") from None

    def _timed_out(self, method: str, path: str) -> ServiceError:
        return ServiceError(None, f"{self.base_url} did not answer {method} {path} within {self.timeout} s")


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (the server sends seconds; the HTTP-date form is not used by it)."""
    try:
        return float(retry_after)
    except (TypeError, ValueError):
        return None


def _error_message(err: urllib.error.HTTPError) -> str:
    """The service's {"error": "..."}, else the HTTP reason (another server, a proxy)."""
    try:
        message = json.loads(err.read())["error"]
        if isinstance(message, str):
            return message
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return str(err.reason)
