"""A channel's socket in a test: frames applied by the protocol, state judged by DRF.

``ChannelClient`` opens a ``channels.testing.WebsocketCommunicator`` on your ASGI application,
feeds every frame to a ``ReferenceClient`` (docs/protocol.md's rules, no rxcdc server code) and
``converge`` waits until what it holds equals ``ground_truth``: DRF's own nested serialization
of the anchor, read from the database. It needs a running worker (``rx_replicate``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db.models import Model
from rest_framework import serializers

from rxcdc.testing.oracle import diff, ground_truth
from rxcdc.testing.reference import ReferenceClient, schema_of

__all__ = ["ChannelClient"]


class ChannelClient:
    """One socket of a single-anchor channel: ``connect``, write, ``await converge()``.

    ``serializer``: the channel's anchor serializer class; ``model`` and ``pk``: the anchor row;
    ``user_id``: whose view DRF is asked for (``user_key`` rows of others are hidden); by
    default the owner of ``token`` (a ``rest_framework.authtoken`` token).
    """

    application: Any = None  # the ASGI application, unless given to __init__

    def __init__(
        self,
        url: str,
        serializer: type[serializers.Serializer[Any]],
        model: type[Model],
        pk: Any,
        *,
        token: str | None = None,
        user_id: Any = None,
        application: Any = None,
    ) -> None:
        self.url, self.serializer, self.model, self.pk = url, serializer, model, pk
        if user_id is None and token is not None:
            from rest_framework.authtoken.models import Token

            user_id = Token.objects.get(key=token).user_id
        self.token, self.user_id = token, user_id
        self.application = application or self.application
        if self.application is None:
            raise TypeError("ChannelClient needs an ASGI application")
        self.anchor = json.loads(json.dumps(pk, default=str))  # the anchor as frames name it
        self.ref = ReferenceClient(schema_of(serializer()))
        self.comm: WebsocketCommunicator | None = None

    async def connect(self, *, resume: bool = False) -> None:
        """Open the socket and authenticate (``resume``: ask for what changed since the last LSN).

        Raises ``AssertionError`` when the handshake is refused.
        """
        self.comm = WebsocketCommunicator(self.application, self.url)
        connected, _ = await self.comm.connect()
        assert connected, f"{self.url}: handshake refused"
        frame: dict[str, Any] = {"type": "auth"}
        if self.token is not None:
            frame["token"] = self.token
        if resume:
            frame["since"] = self.ref.since()
        await self.comm.send_json_to(frame)

    async def close(self) -> None:
        """Close the socket; the reference client forgets the connection (not the state)."""
        assert self.comm is not None
        await self.comm.disconnect()
        self.ref.connection_lost()

    def expected(self) -> Any:
        """DRF's nested serialization of the anchor as ``user_id`` may see it (None: gone)."""
        instance = self.model._default_manager.filter(pk=self.pk).first()
        return ground_truth(self.serializer, instance, self.user_id)

    def frames(self, kind: str) -> list[dict[str, Any]]:
        """The frames of type ``kind`` received so far, in order."""
        return [f for f in self.ref.frames if f["type"] == kind]

    def held(self) -> Any:
        """The nested state the client holds now."""
        return self.ref.nested(self.anchor)

    async def converge(self, timeout: float = 20.0) -> Any:
        """Apply frames until the client holds what DRF says; return it.

        Raises ``AssertionError`` with the differences after ``timeout`` seconds.
        """
        assert self.comm is not None, "connect() first"
        deadline = time.monotonic() + timeout
        while True:
            if self.ref.ready():
                expected = await sync_to_async(self.expected)()
                if not diff(expected, self.held()):
                    return expected
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                expected = await sync_to_async(self.expected)()
                raise AssertionError(
                    f"{self.url} (user {self.user_id}) did not converge: ready={self.ref.ready()}"
                    f" violations={self.ref.violations} errors={self.ref.errors}\n"
                    + "\n".join(diff(expected, self.held()))
                )
            # receive_output's own timeout would cancel the application: wait for output first.
            if await self.comm.receive_nothing(min(remaining, 0.2)):
                continue
            text = (await self.comm.receive_output(1)).get("text")
            if text is not None:
                self.ref.apply(json.loads(text))  # json.loads: integers of any size stay exact
