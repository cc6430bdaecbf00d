"""How ``serve`` runs uvicorn so that slow or half-open clients cannot starve the class.

A client that opens a connection and sends half its request headers (slow-loris), or a body that
trickles in, holds a connection and its descriptor for as long as it likes under uvicorn's
defaults: uvicorn bounds only the wait between requests on a kept-alive connection. The protocol
here closes a connection whose request headers have not all arrived ``header_timeout`` seconds
after it opened (or after its previous answer), and one whose whole request has not arrived
``body_timeout`` seconds after that; a connection busy with an answer is never cut. A request
whose headers pass ``MAX_HEADER_BYTES`` is answered 431: h11's own bound holds only for headers
that arrive in pieces, and one read of 64 KiB went through whole.

``serve`` binds its address and loads its certificate (``bind``, ``check_tls``) before it stores
anything, so a start that cannot serve (a port in use, a bad certificate) leaves the competition's
settings as they were and says why in one line.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from ..errors import InputError
from .settings import BODY_TIMEOUT, HEADER_TIMEOUT

MAX_HEADER_BYTES = 16 * 1024  # a request's headers larger than this are refused (h11's buffer)
KEEP_ALIVE = 5  # seconds an idle kept-alive connection stays open
MAX_CONNECTIONS = 1000  # beyond this, new requests get uvicorn's 503 rather than exhausting descriptors


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines on receiving a request: ``header_timeout`` and
    ``body_timeout`` are read from uvicorn's config (``serving.run`` sets them), so that worker
    processes, which receive the config pickled, apply the same ones."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio sets this only on sockets it knows as TCP; a worker's socket, inherited from the
            # parent, arrives without the protocol number, and every kept-alive answer waited 40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc) -> None:
        if getattr(self, "_deadline_task", None) is not None:
            self._deadline_task.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if getattr(self, "_deadline_task", None) is not None:
            self._deadline_task.cancel()
        self._began = self.loop.time()
        self._deadline_task = self.loop.call_later(getattr(self.config, "header_timeout", HEADER_TIMEOUT),
                                                   self._deadline)

    def _deadline(self) -> None:
        self._deadline_task = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self.transport.close()  # no request, or part of its headers, for header_timeout
        elif state is h11.SEND_BODY:
            left = self._began + getattr(self.config, "body_timeout", BODY_TIMEOUT) - self.loop.time()
            if left <= 0:
                self.transport.close()  # the app reading the body sees a disconnect
            else:
                self._deadline_task = self.loop.call_later(left, self._deadline)


class HeaderLimit:
    """ASGI middleware: a request whose line and headers together pass ``max_bytes`` gets 431 and
    ``{"error": ...}``, whichever way its bytes arrived."""

    def __init__(self, app, max_bytes: int = MAX_HEADER_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
                len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                from starlette.responses import JSONResponse

                answer = JSONResponse({"error": f"request headers of {size:,} bytes, over the limit of "
                                                f"{self.max_bytes:,}"},
                                      status_code=431, headers={"Connection": "close"})
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)


def bind(host: str, port: int) -> socket.socket:
    """The listening address, bound now (as uvicorn would bind it) so that a port in use is said in
    one line before anything is stored; ``run`` serves on it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                         f"is another server on that port? nothing was stored") from None
    sock.set_inheritable(True)  # worker processes serve on it
    return sock


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Load the certificate and its key as uvicorn will, so that a bad pair is refused in one line
    before anything is stored."""
    if certfile is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (getattr(exc, "reason", None) or exc)
        raise InputError(f"--ssl-certfile {certfile} --ssl-keyfile {keyfile}: not a usable certificate and key "
                         f"({why}); nothing was stored") from None


def run(app, *, sock: socket.socket, workers: int = 1, header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT, root_path: str = "", ssl_certfile=None, ssl_keyfile=None) -> None:
    """Serve ``app`` (an application, or for ``workers`` > 1 the import string of a factory that
    builds it in each worker process) on the socket ``bind`` gave, with bounded request times;
    ``root_path``: a reverse proxy's sub-path; ``ssl_*``: serve HTTPS."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", workers=workers,
                            factory=isinstance(app, str), http=BoundedH11Protocol, timeout_keep_alive=KEEP_ALIVE,
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES, limit_concurrency=MAX_CONNECTIONS,
                            root_path=root_path, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    config.header_timeout, config.body_timeout = header_timeout, body_timeout
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
