"""Watchers: one socket per anchor feeding a ReferenceClient, judged by DRF's own output."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.contrib.auth.models import User
from django.db import connection
from django.urls import path
from rest_framework.authtoken.models import Token

from rxcdc.testing.client import ChannelClient
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


class Watcher(ChannelClient):
    """A ``ChannelClient`` on the schema app's routes."""

    application = application


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
    w = await sync_to_async(Watcher)(url, serializer, model, pk, token=await token())
    await w.connect()
    await w.converge()
    return w
