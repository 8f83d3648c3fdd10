"""A real websocket client of a daphne server: a reader thread feeding a ``ReferenceClient``."""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rxcdc.testing.reference import ReferenceClient, Schema


class LiveClient:
    """One client slot: a user watching one board, connected or not.

    The ``ReferenceClient`` survives a disconnect (its state is what a resume starts from) and is
    replaced by a fresh one for a connection that does not resume.
    """

    def __init__(self, name: str, url: str, origin: str, token: str, schema: Schema) -> None:
        self.name, self.url, self.origin, self.token = name, url, origin, token
        self.schema = schema
        self.ref = ReferenceClient(schema)
        self.history = [self.ref]  # every ReferenceClient this slot used (frame logs to replay)
        self.lock = threading.Lock()  # the reader thread applies frames while the test reads
        self.ws: ClientConnection | None = None
        self.thread: threading.Thread | None = None
        self.crash: BaseException | None = None  # an exception in the reader thread
        self.closed: str | None = None  # why the server closed the socket, if it did
        self.connects = 0

    @property
    def connected(self) -> bool:
        """Whether a connection was opened and has not been closed by either side."""
        return self.ws is not None and self.closed is None

    def connect(self, *, resume: bool) -> None:
        """Open a connection and authenticate; with ``resume``, send ``since`` from our state."""
        self.disconnect()
        if not resume:
            self.ref = ReferenceClient(self.schema)
            self.history.append(self.ref)
        since = self.ref.since() if resume else {}
        self.closed = None
        # Entered by hand: the connection outlives this call (disconnect() closes it).
        opening = connect(self.url, origin=self.origin, open_timeout=10, max_size=None)
        self.ws = opening.__enter__()
        frame: dict[str, Any] = {"type": "auth", "token": self.token}
        if since:
            frame["since"] = since
        self.ws.send(json.dumps(frame))
        self.connects += 1
        self.thread = threading.Thread(target=self._read, args=(self.ws,), daemon=True)
        self.thread.start()

    def _read(self, ws: ClientConnection) -> None:
        reason = "closed by the client"
        try:
            for text in ws:
                frame = json.loads(text)  # json.loads: integers of any size stay exact
                with self.lock:
                    self.ref.apply(frame)
        except ConnectionClosed as exc:
            reason = f"closed by the server: {exc}"
        except BaseException as exc:  # surfaced by the harness's checks
            self.crash = exc
            reason = f"reader crashed: {exc!r}"
        finally:
            with self.lock:
                self.ref.connection_lost()
                if ws is self.ws and self.closed is None:
                    code = ws.close_code
                    self.closed = reason if code in (None, 1000) else f"{reason} (code {code})"

    def disconnect(self) -> None:
        """Close the connection (if any) and wait until the reader has stopped."""
        ws, thread = self.ws, self.thread
        if ws is None:
            return
        with self.lock:
            self.closed = self.closed or "closed by the client"
        ws.close()
        if thread is not None:
            thread.join(10)
            assert not thread.is_alive(), f"{self.name}: the reader thread did not stop"
        self.ws = self.thread = None

    def view(self, anchor: Any) -> tuple[bool, dict[str, Any] | None]:
        """``(ready, nested state of anchor)``, read consistently with the reader thread."""
        with self.lock:
            return self.ref.ready(), self.ref.nested(anchor)

    def problems(self) -> list[str]:
        """Protocol violations, error frames, a crashed reader or a socket closed on us."""
        with self.lock:
            out = [f"violation: {v}" for v in self.ref.violations]
            out += [f"error frame: {json.dumps(e)}" for e in self.ref.errors]
        if self.crash is not None:
            out.append(f"reader crashed: {self.crash!r}")
        if self.ws is not None and self.closed and self.closed != "closed by the client":
            out.append(self.closed)
        return out
