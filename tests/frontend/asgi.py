"""An ASGI application routing the test app's channels, for route discovery (ASGI_APPLICATION).

Wrapped as a project's ``asgi.py`` wraps its router (origin validator, auth stack), with a
nested ``URLRouter`` and a per-route middleware; no module-level side effects.
"""

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import path, re_path

from tests.testapp.channels import BoardsChannel, RoomChannel


async def _other(scope: object, receive: object, send: object) -> None:
    """A websocket app that is no channel (its re_path route is not the generator's business)."""


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        re_path(r"^ws/other/(?P<n>\d+)/$", _other),
                        path("ws/", URLRouter([path("boards/", BoardsChannel.as_asgi())])),
                        path("ws/room/<int:room>/", AuthMiddlewareStack(RoomChannel.as_asgi())),
                    ]
                )
            )
        ),
    }
)
