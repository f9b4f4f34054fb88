"""A real local HTTP server standing in for the identity service (faked at the HTTP boundary only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[dict[str, Any] | None], tuple[int, Any]]
# What FastAPI (the real identity service's framework) answers, with 404, for a path it has no route for.
NO_ROUTE = {"detail": "Not Found"}


@dataclass
class FakeIdentityService:
    """Routes ``(method, path) -> handler(json_body) -> (status, json)``; records every request."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # The ``Authorization`` header of each request (None: none sent), in the order of ``requests``.
    authorizations: list[str | None] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.routes[(method, path)] = lambda _payload: (status, body)

    def start(self) -> FakeIdentityService:
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                payload = json.loads(raw) if raw else None
                fake.requests.append((method, self.path, payload))
                fake.authorizations.append(self.headers.get("Authorization"))
                handler = fake.routes.get((method, self.path))
                status, body = handler(payload) if handler else (404, NO_ROUTE)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
