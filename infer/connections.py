"""HTTP connections with a deadline for the request headers, which uvicorn does not have.

uvicorn closes a connection that stays idle `timeout_keep_alive` seconds after a response, but a connection that
sends nothing, or sends its headers one byte a second, is kept open for ever: a few hundred of them exhaust the
process's file descriptors (a "slowloris"). `HeaderDeadlineProtocol` is uvicorn's own HTTP/1.1 protocol (h11) with
one more timer: from the moment a connection opens, or its previous response has been sent, the next request's
headers must be complete within `headers_timeout` seconds, or the connection is closed without an answer (the
client has not yet sent a request to answer). The body has its own deadline, which the app enforces while reading
it (`infer/server.py`), so that it can answer 408.

This subclasses uvicorn's protocol class, so it follows uvicorn's internals: `tests/test_serve_stress.py` holds
100 such connections open against it.
"""

from uvicorn.protocols.http.h11_impl import H11Protocol


def protocol_with_header_deadline(headers_timeout: float) -> type:
    """An uvicorn `http` protocol class (for `uvicorn.Config(http=...)`) with this header deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"headers_timeout": headers_timeout})


class HeaderDeadlineProtocol(H11Protocol):
    headers_timeout = 10.0
    _header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._start_header_timer()

    def on_response_complete(self):
        self._start_header_timer()  # before uvicorn starts on a pipelined request, which stops the timer again
        super().on_response_complete()

    def handle_events(self):
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:  # a request's headers have arrived
            self._stop_header_timer()

    def connection_lost(self, exc):
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self):
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(self.headers_timeout, self._headers_too_slow)

    def _stop_header_timer(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self):
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
