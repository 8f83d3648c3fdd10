"""Watchers: one socket per anchor feeding a ReferenceClient, judged by DRF's own output."""

from __future__ import annotations

import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connection
from django.urls import path
from rest_framework.authtoken.models import Token

from rxcdc.testing.oracle import diff, ground_truth
from rxcdc.testing.reference import ReferenceClient, schema_of
from tests.schemaapp.channels import CrateChannel, LedgerChannel, ShelfChannel, VaultChannel

application = AuthMiddlewareStack(
    URLRouter(
        [
            path("ws/schemas/shelf/<int:shelf>/", ShelfChannel.as_asgi()),
            path("ws/schemas/crate/<int:crate>/", CrateChannel.as_asgi()),
            path("ws/schemas/ledger/<int:ledger>/", LedgerChannel.as_asgi()),
            path("ws/schemas/vault/<uuid:vault>/", VaultChannel.as_asgi()),
        ]
    )
)


class Watcher:
    """One socket feeding a ReferenceClient; ``converge`` waits for DRF's answer or fails."""

    def __init__(self, url: str, serializer: Any, model: Any, pk: Any, token: str) -> None:
        self.url, self.serializer, self.model, self.pk, self.token = (
            url,
            serializer,
            model,
            pk,
            token,
        )
        self.anchor = json.loads(json.dumps(pk, default=str))  # the anchor as frames name it
        self.user_id = Token.objects.get(key=token).user_id
        self.ref = ReferenceClient(schema_of(serializer()))
        self.comm: WebsocketCommunicator | None = None

    async def connect(self) -> None:
        self.comm = WebsocketCommunicator(application, self.url)
        connected, _ = await self.comm.connect()
        assert connected
        await self.comm.send_json_to({"type": "auth", "token": self.token})

    async def close(self) -> None:
        assert self.comm is not None
        await self.comm.disconnect()
        self.ref.connection_lost()

    def expected(self) -> dict[str, Any] | None:
        instance = self.model.objects.filter(pk=self.pk).first()
        return ground_truth(self.serializer, instance, self.user_id)

    def held(self) -> dict[str, Any] | None:
        return self.ref.nested(self.anchor)

    async def converge(self, timeout: float = 20.0) -> dict[str, Any] | None:
        """Apply frames until the client equals ground truth (returned); fail with the diff."""
        assert self.comm is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.ref.ready():
                expected = await sync_to_async(self.expected)()
                if not diff(expected, self.held()):
                    return expected
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                expected = await sync_to_async(self.expected)()
                problems = diff(expected, self.held())
                raise AssertionError(
                    f"{self.url} did not converge: ready={self.ref.ready()}"
                    f" violations={self.ref.violations} errors={self.ref.errors}\n"
                    + "\n".join(problems)
                )
            # (receive_output's own timeout would cancel the application: wait for output first)
            if await self.comm.receive_nothing(min(remaining, 0.2)):
                continue
            text = (await self.comm.receive_output(1)).get("text")
            if text is not None:
                self.ref.apply(json.loads(text))


def sql(statement: str, params: Any = None) -> None:
    """Raw SQL, committed on its own (the test database connection is in autocommit)."""
    with connection.cursor() as cur:
        cur.execute(statement, params)


asql = sync_to_async(sql)


@sync_to_async
def token() -> str:
    user = User.objects.create(username=f"u{User.objects.count()}")
    return Token.objects.create(user=user).key


async def watch(url: str, serializer: Any, model: Any, pk: Any) -> Watcher:
    """A connected watcher that already holds the anchor as DRF renders it."""
    w = await sync_to_async(Watcher)(url, serializer, model, pk, await token())
    await w.connect()
    await w.converge()
    return w
