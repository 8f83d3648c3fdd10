import django
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

django.setup()

from tests.bench_peers.sites.dcrf_site.consumers import RoomConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws/room/", RoomConsumer.as_asgi())]),
    }
)
