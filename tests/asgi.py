"""ASGI application for tests that run a real daphne (the recommended routing and tuning)."""

import gc
import os

import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

django.setup()

from tests.exactapp.channels import BoardChannel  # noqa: E402
from tests.testapp.channels import BoardsChannel, RoomChannel  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        # StateChannel routes check the whole Origin themselves (rxcdc.origin): no channels
        # AllowedHostsOriginValidator, which compares the host only and refuses token clients
        # that send no Origin.
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/room/<int:room>/", RoomChannel.as_asgi()),
                    path("ws/boards/", BoardsChannel.as_asgi()),
                    path("ws/exact/board/<int:board>/", BoardChannel.as_asgi()),
                ]
            )
        ),
    }
)

if not os.environ.get("RX_BENCH_DEFAULT_GC"):  # bench_fanout also measures without it
    # docs/deployment.md, "Many connections per process": long-lived objects out of the
    # collector's way, and fewer collections.
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
