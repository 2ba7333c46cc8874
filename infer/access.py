"""Who may call `bertvino serve`, and over what: an API key and TLS, the same for REST and gRPC.

With a key (`--api-key`, `--api-key-file`, or the environment variable BERTVINO_API_KEY), every request but the
health checks must carry `Authorization: Bearer KEY` (over gRPC, the metadata entry `authorization`), else it gets
401 (gRPC: UNAUTHENTICATED). The health checks stay open so that a load balancer or Kubernetes probe needs no
secret: they say only whether the process is up and warmed up. The key is compared in constant time
(`hmac.compare_digest`), so how long a refusal takes does not tell how much of a guess was right.

TLS (`--ssl-certfile` with `--ssl-keyfile`, PEM) covers both ports. The files are loaded here first, so that a
missing, unreadable or mismatched pair is a one-line error before any model is compiled.
"""

import hmac
import os
import ssl

from starlette.responses import JSONResponse

from ..core.errors import BertvinoError, file_error, first_line

ENV_VAR = "BERTVINO_API_KEY"
# The health checks, for probes that carry no key; and the page at / (static HTML and script, no model output):
# a browser cannot add a header to the page's own request, so the page asks for the key and sends it with its calls.
PUBLIC_PATHS = frozenset({"/healthz", "/v2/health/live", "/v2/health/ready", "/"})
REFUSAL = "this service needs its API key: send the header Authorization: Bearer KEY"


def api_key(key: str | None = None, key_file=None, environ=os.environ) -> str | None:
    """The key from the flag, else from the file, else from BERTVINO_API_KEY; None when there is none."""
    if key is None and key_file is not None:
        try:
            with open(key_file, encoding="utf-8") as file:
                key = file.read().strip()
        except (OSError, UnicodeDecodeError) as err:
            raise file_error(key_file, f"cannot read the API key: {getattr(err, 'strerror', None) or err}") from None
        if not key:
            raise file_error(key_file, "is empty: write the API key in it")
    if key is None:
        key = environ.get(ENV_VAR) or None
    if key is not None and not (key.isascii() and key.isprintable() and " " not in key and key):
        raise BertvinoError("the API key must be printable ASCII without spaces (it travels in an HTTP header)")
    return key


def authorized(header, key: str) -> bool:
    """Whether an Authorization header (str or bytes, or None) carries `Bearer KEY`; the key's comparison takes the
    same time wherever a wrong key first differs."""
    if header is None:
        return False
    if isinstance(header, str):
        header = header.encode("utf-8", "replace")
    scheme, _, token = header.strip().partition(b" ")
    return hmac.compare_digest(token.strip(), key.encode()) and scheme.lower() == b"bearer"


class RequireApiKey:
    """ASGI middleware: 401 {"error": ...} for a request without the key, except on PUBLIC_PATHS. `on_refused()` is
    called for each refusal (the error metric)."""

    def __init__(self, app, key: str, on_refused=None):
        self.app, self.key, self.on_refused = app, key, on_refused

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or authorized(_header(scope, b"authorization"),
                                                                                    self.key):
            return await self.app(scope, receive, send)
        if self.on_refused is not None:
            self.on_refused()
        response = JSONResponse({"error": REFUSAL}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def _header(scope, name: bytes):
    return next((value for key, value in scope["headers"] if key == name), None)


def tls_files(certfile, keyfile) -> tuple | None:
    """(certificate chain PEM, private key PEM) as bytes, checked to be a pair; None without TLS."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise BertvinoError("--ssl-certfile and --ssl-keyfile go together: give both, or neither")
    pems = []
    for path in (certfile, keyfile):
        try:
            with open(path, "rb") as file:
                pems.append(file.read())
        except OSError as err:
            raise file_error(path, f"cannot read: {err.strerror}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile)
    except ssl.SSLError as err:
        raise BertvinoError(f"{certfile}, {keyfile}: not a PEM certificate and its private key "
                            f"({first_line(err)})") from None
    return tuple(pems)
