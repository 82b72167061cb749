"""A threaded HTTP server on localhost for what pytest-httpserver cannot do: stall, drip, reset the
connection, and serve requests concurrently while recording when each one started and ended.

    with LiveServer() as server:
        server.route("/feed", lambda h: h.reply(200, RSS))
        url = server.url("/feed")               # or server.url("/feed", host="localhost")
        ... server.hits("/feed") ...
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Hit:
    path: str
    host: str
    headers: dict
    started: float
    ended: float = 0.0  # 0 while the request is being answered


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        hit = Hit(self.path, (self.headers.get("Host") or "").split(":")[0], dict(self.headers), time.monotonic())
        with self.server.lock:
            self.server.log.append(hit)  # at the start: a client that gave up was still seen
        route = self.server.routes.get(self.path)
        try:
            if route is None:
                self.reply(404, b"no route")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up, as it should
        finally:
            hit.ended = time.monotonic()

    # --- helpers for routes ---

    def reply(self, status: int, body: bytes = b"", headers: dict | None = None, delay: float = 0) -> None:
        """Answer, after ``delay`` seconds of silence."""
        time.sleep(delay)
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self) -> None:
        """Abort the connection with a TCP reset instead of an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def drip(self, body: bytes, every: float, headers: dict | None = None) -> None:
        """Headers at once, then the body one byte at a time."""
        self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(every)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Callable[[_Handler], None]] = {}
        self.log: list[Hit] = []
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:  # a reset connection is expected
        pass


class LiveServer:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, handler: Callable[[_Handler], None]) -> None:
        self._server.routes[path] = handler

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._server.lock:
            return [hit for hit in self._server.log if path is None or hit.path == path]


def sequence(*handlers: Callable[[_Handler], None]) -> Callable[[_Handler], None]:
    """A route that answers with the next handler each time (the last one repeats)."""
    lock, calls = threading.Lock(), [0]

    def route(handler: _Handler) -> None:
        with lock:
            index = min(calls[0], len(handlers) - 1)
            calls[0] += 1
        handlers[index](handler)

    return route
