"""ASGI entry point for daphne: Django over HTTP, the rxcdc channels over websockets."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the channels are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns as chat_routes  # noqa: E402
from checklist.routing import websocket_urlpatterns as checklist_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session cookie authenticates the socket unless the client sends a token. Every
        # route is a StateChannel, which checks the whole Origin (scheme, host, port) itself and
        # answers a foreign one with a typed bad_origin; other consumers would be wrapped in
        # rxcdc.origin.OriginValidator (channels' AllowedHostsOriginValidator compares the host
        # only, and refuses token clients that send no Origin).
        "websocket": AuthMiddlewareStack(URLRouter(chat_routes + checklist_routes)),
    }
)

# docs/deployment.md, "Many connections per process": keep what was loaded so far out of the
# cycle collector's way and collect less often (its full passes stalled fan-out by 100+ ms).
gc.freeze()
gc.set_threshold(50_000, 20, 10)
