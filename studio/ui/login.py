"""Failed logins, throttled per client: Gradio checks the password (STUDIO_AUTH) but lets a client try as
fast as it can. This middleware sits in front of Gradio's `/login` route, counts each client's failures in a
row, and once STUDIO_LOGIN_ATTEMPTS have failed makes the client wait before its next try (1 s, then twice
as long after each further failure, up to 5 minutes), refusing even the right password until then. A
success clears the count. Each failure is logged once, in one line.

It is written as plain ASGI middleware because Gradio's `auth` callable is not told who is asking, and
FastAPI middleware (passed to Gradio's app through `launch(app_kwargs=...)`) is the one place that is.
A client is its socket address; behind a reverse proxy you run, STUDIO_TRUST_PROXY=1 reads the address
the proxy puts first in X-Forwarded-For instead (a client can write that header itself otherwise).
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict

log = logging.getLogger("studio.login")

BASE_DELAY = 1.0
MAX_DELAY = 300.0
FORGET_AFTER = 3600.0   # a client's failures are forgotten after an hour without one
MAX_CLIENTS = 10_000    # the table of clients never grows past this (oldest forgotten first)


class LoginThrottle:
    def __init__(self, app, attempts: int = 5, trust_proxy: bool = False):
        self.app, self.attempts, self.trust_proxy = app, attempts, trust_proxy
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (failures, last at)
        self._lock = threading.Lock()

    def client_of(self, scope) -> str:
        if self.trust_proxy:
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    first = value.decode("latin-1").split(",")[0].strip()
                    if first:
                        return first
        client = scope.get("client")
        return client[0] if client else "unknown"

    def wait_for(self, client: str, now: float) -> float:
        """Seconds `client` must still wait before trying again (0: it may try now)."""
        with self._lock:
            failures, last = self._failures.get(client, (0, 0.0))
        if failures < self.attempts:
            return 0.0
        delay = min(MAX_DELAY, BASE_DELAY * 2 ** (failures - self.attempts))
        return max(0.0, last + delay - now)

    def _record(self, client: str, failed: bool, now: float) -> int:
        with self._lock:
            for key, (_, last) in list(self._failures.items()):
                if now - last > FORGET_AFTER:
                    del self._failures[key]
            if not failed:
                self._failures.pop(client, None)
                return 0
            failures = self._failures.pop(client, (0, 0.0))[0] + 1
            self._failures[client] = (failures, now)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
            return failures

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" \
                or not scope.get("path", "").rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = self.client_of(scope)
        wait = self.wait_for(client, time.monotonic())
        if wait > 0:
            log.warning("login refused for %s: too many failed logins, %d s left to wait", client, math.ceil(wait))
            body = json.dumps({"detail": f"Too many failed logins; try again in {math.ceil(wait)} s."}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(math.ceil(wait)).encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def watch(message):
            # Counted (and logged) before the answer leaves, so a client's next try always sees this one.
            if message["type"] == "http.response.start":
                code = message["status"]
                if 200 <= code < 400:
                    self._record(client, failed=False, now=time.monotonic())
                elif code in (400, 401, 403):
                    failures = self._record(client, failed=True, now=time.monotonic())
                    log.warning("failed login from %s (%d in a row)", client, failures)
            await send(message)

        await self.app(scope, receive, watch)
