"""A stand-in for the communication and workflow services, for dev (``manage.py fake_communication``)
and tests: a real HTTP server on 127.0.0.1, never used in production.

It answers ``POST /api/v1/notifications`` and ``POST /api/v1/workflows`` as a receiver that
deduplicates by ``Idempotency-Key`` should: the first request with a key is accepted (202) and kept in
``accepted``, a repeat is answered 200 ``{"duplicate": true}`` and not kept again. Every request is in
``requests`` (path, key, Authorization, JSON body), duplicates included.

Tests script failures: ``fail_next(n, status=500)`` answers the next ``n`` requests with ``status``
(before accepting them), ``refuse_all(status=400)`` refuses every request, and ``hold`` (a
``threading.Event``) makes it accept a request, set ``received`` and keep the answer until ``hold`` is
set: a worker killed meanwhile, or a client whose timeout expires, never hears the answer. A service
that is down is a closed port (the ``closed_port`` fixture).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = frozenset({"/api/v1/notifications", "/api/v1/workflows"})


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    idempotency_key: str
    authorization: str
    body: Any


@dataclass
class FakeReceiver:
    """The receiving service in memory (see the module)."""

    requests: list[ReceivedRequest] = field(default_factory=list)
    accepted: dict[str, ReceivedRequest] = field(default_factory=dict)
    hold: threading.Event | None = None
    received: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    _failures: list[int] = field(default_factory=list)
    _refuse_status: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, *, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` without accepting them."""
        with self._lock:
            self._failures.extend([status] * count)

    def refuse_all(self, status: int | None = 400) -> None:
        """Answer every request with ``status`` (``None``: stop refusing)."""
        self._refuse_status = status

    def accepted_keys(self, path: str | None = None) -> list[str]:
        return [key for key, request in self.accepted.items() if path is None or request.path == path]

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, Any]]:
        """What the service answers ``request`` (recorded, deduplicated, or failed as scripted)."""
        with self._lock:
            self.requests.append(request)
            if self._refuse_status is not None:
                return self._refuse_status, {"detail": "refused"}
            if self._failures:
                return self._failures.pop(0), {"detail": "scripted failure"}
            if not request.idempotency_key:
                return 400, {"detail": "Idempotency-Key required"}
            if request.idempotency_key in self.accepted:
                return 200, {"id": request.idempotency_key, "duplicate": True}
            self.accepted[request.idempotency_key] = request
        return 202, {"id": request.idempotency_key, "duplicate": False}

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("the fake receiver is not started")
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeReceiver:
        """Serve in a background thread (``port=0``: any free port; see ``url``)."""
        self.server = ThreadingHTTPServer((host, port), _request_handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def serve_forever(self, host: str, port: int) -> None:
        """Serve in this thread until interrupted."""
        self.server = ThreadingHTTPServer((host, port), _request_handler(self))
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _request_handler(fake: FakeReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path not in PATHS:
                self._send(404, {"detail": "Not Found"})
                return
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                self._send(422, {"detail": "invalid JSON"})
                return
            request = ReceivedRequest(
                path=self.path,
                idempotency_key=self.headers.get("Idempotency-Key", ""),
                authorization=self.headers.get("Authorization", ""),
                body=payload,
            )
            status, answer = fake.answer(request)
            fake.received.set()
            if fake.hold is not None:
                fake.hold.wait()
            # The caller may have gone away (timed out, or was killed) before the answer.
            with contextlib.suppress(OSError):
                self._send(status, answer)

    return Handler
