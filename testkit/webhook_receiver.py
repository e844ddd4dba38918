"""A webhook receiver for tests: a real HTTP server on loopback that checks every request's
signature, keeps what it received, and can be slow, failing, or down."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from callcenter.webhooks.signing import HEADER, SignatureError, verify


@dataclass(frozen=True)
class Received:
    key: str
    topic: str
    attempt: int
    document: dict[str, Any]
    at: float


@dataclass
class WebhookReceiver:
    port: int
    secret: str = ""
    delay: float = 0.0
    status: int = 200
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    try:
                        verify(receiver.secret, self.headers.get(HEADER, ""), body, time.time())
                    except SignatureError as exc:
                        receiver.refused.append(str(exc))
                        self.send_response(401)
                        self.end_headers()
                        return
                    if receiver.status < 300:
                        receiver.received.append(
                            Received(
                                self.headers["Idempotency-Key"],
                                self.headers["Switchboard-Event"],
                                int(self.headers["Switchboard-Attempt"]),
                                json.loads(body),
                                time.time(),
                            )
                        )
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def keys(self, topic: str | None = None) -> list[str]:
        return [r.key for r in self.received if topic is None or r.topic == topic]

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [r.document for r in self.received if r.topic == topic]
