import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

django.setup()

from tests.bench_peers.sites.rxcdc_site.channels import RoomChannel  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AuthMiddlewareStack(
            URLRouter([path("ws/room/<int:room>/", RoomChannel.as_asgi())])
        ),
    }
)
