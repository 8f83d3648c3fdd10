"""The test app's websocket routes, for ``RX_WEBSOCKET_URLCONF`` in the generator tests."""

from django.urls import path

from tests.testapp.channels import BoardsChannel, RoomChannel

websocket_urlpatterns = [
    path("ws/room/<int:room>/", RoomChannel.as_asgi()),
    path("ws/boards/", BoardsChannel.as_asgi()),
]
