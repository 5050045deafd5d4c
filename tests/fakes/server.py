"""A tiny threaded HTTP server base for the forge fakes.

Why our own and not a mocking library: the adapters must be exercised through real sockets
(python-gitlab goes through `requests`, the Gitea adapter through `httpx`, and the worker talks
to the fakes from a subprocess in some tests), so each fake is a real HTTP server on 127.0.0.1
with a random port. Subclasses register routes (`method`, regex) and keep their own state;
this module gives them routing, JSON helpers, fault injection and a request log.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """What a route handler gets: the decoded request."""

    method: str
    path: str  # raw path, still percent-encoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # regex groups of the route

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send with Transfer-Encoding: chunked (no Content-Length)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    return Response(status, text.encode(), {"Content-Type": f"{content_type}; charset=utf-8"})


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    """Applied to the next `times` requests (that match `path_contains`, if given)."""

    times: int
    status: int = 500
    retry_after: str | None = None
    hang: float = 0.0  # seconds to stall before answering (longer than the client timeout)
    redirect_to: str | None = None  # answer 302 with this Location
    path_contains: str = ""
    body: bytes | None = None  # answer `status` with this body instead of a JSON message
    headers: dict[str, str] = field(default_factory=dict)  # sent with `body`
    chunked: bool = False  # send `body` chunked, without a Content-Length
    method: str = ""  # only requests with this method, if given ("POST")


class FakeServer:
    """Base class: routing, fault injection, request log. Subclasses call `route()`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._release = threading.Event()  # set on stop() so hanging handlers return at once
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request received
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, *, certfile: str | None = None, keyfile: str | None = None) -> str:
        """Listen on 127.0.0.1 (random port) in a background thread; return the base URL.

        With `certfile`/`keyfile` the server speaks TLS (for CA-bundle tests).
        """
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out without a 40 ms stall

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def _serve(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        scheme = "http"
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
            scheme = "https"
        self._httpd = httpd
        self._release.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        host, port = httpd.server_address[:2]
        self.url = f"{scheme}://{'localhost' if certfile else host}:{port}"
        return self.url

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        if not self.url:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration ----------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def inject(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: str | int | None = None,
        hang: float = 0.0,
        redirect_to: str | None = None,
        path_contains: str = "",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
        method: str = "",
    ) -> None:
        """Make the next `times` requests fail: `status` (500, 429 with `retry_after`, 401...),
        a stall of `hang` seconds before answering 504, or a 302 to `redirect_to`. With `body`
        (and `headers`, e.g. a Content-Type or Content-Encoding), answer `status` with exactly
        that body, `chunked` if asked: an HTML error page, a huge or compressed answer. With
        `method`, only requests with that method count."""
        with self._lock:
            self._faults.append(
                Fault(
                    times,
                    status,
                    None if retry_after is None else str(retry_after),
                    hang,
                    redirect_to,
                    path_contains,
                    body,
                    dict(headers or {}),
                    chunked,
                    method,
                )
            )

    def count(self, method: str, path_contains: str) -> int:
        """How many requests matched (for asserting pagination and retries)."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and path_contains in p)

    # --- hooks for subclasses ---------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response if the request is not authenticated, else None."""
        return None

    def not_found(self, request: Request) -> Response:
        return json_response({"message": "404 Not Found"}, 404)

    # --- dispatch ---------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.path_contains in path and fault.method in ("", method):
                    fault.times -= 1
                    return fault
            self._faults = [f for f in self._faults if f.times > 0]
            return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in h.headers.items()}
        request = Request(h.command, parts.path, query, headers, body)
        with self._lock:
            self.requests.append((h.command, parts.path))
        response = self._answer(request)
        try:
            h.send_response(response.status)
            for name, value in response.headers.items():
                h.send_header(name, value)
            if response.chunked:
                h.send_header("Transfer-Encoding", "chunked")
                h.end_headers()
                for at in range(0, len(response.body), 64 * 1024):
                    piece = response.body[at : at + 64 * 1024]
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                h.wfile.write(b"0\r\n\r\n")
            else:
                h.send_header("Content-Length", str(len(response.body)))
                h.end_headers()
                h.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (timeout test); nothing to do

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            if fault.hang:
                self._release.wait(fault.hang)
                return json_response({"message": "504 Gateway Timeout"}, 504)
            if fault.redirect_to is not None:
                return Response(302, b"", {"Location": fault.redirect_to + request.path})
            if fault.body is not None:
                return Response(fault.status, fault.body, fault.headers, fault.chunked)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return json_response({"message": f"{fault.status} injected"}, fault.status, headers)
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                request.params = match.groupdict()
                return handler(request)
        return self.not_found(request)


def paginate(
    items: list[Any],
    request: Request,
    *,
    default: int,
    maximum: int,
    size_param: str,
    base_url: str,
) -> tuple[list[Any], dict[str, str]]:
    """Slice `items` by `page` / `size_param` like the real servers do; return page + headers.

    Headers are the union of what GitLab (X-Page, X-Per-Page, X-Next-Page, X-Total) and Gitea
    (X-Total-Count) send, plus an RFC 8288 Link header.
    """
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = int(request.query.get(size_param, str(default)))
    except ValueError:
        page, size = 1, default
    size = default if size <= 0 else min(size, maximum)
    start = (page - 1) * size
    chunk = items[start : start + size]
    pages = max(1, -(-len(items) // size))
    has_next = start + size < len(items)
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(size),
        "X-Total": str(len(items)),
        "X-Total-Pages": str(pages),
        "X-Total-Count": str(len(items)),
        "X-Next-Page": str(page + 1) if has_next else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
    }
    links = []
    if has_next:
        links.append(f'<{base_url}{request.path}?page={page + 1}&{size_param}={size}>; rel="next"')
    links.append(f'<{base_url}{request.path}?page={pages}&{size_param}={size}>; rel="last"')
    headers["Link"] = ", ".join(links)
    return chunk, headers
