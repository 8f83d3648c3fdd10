"""Websocket routes of the chat (``RX_WEBSOCKET_URLCONF`` lets makefrontend read them)."""

from django.urls import path

from chat.channels import ChatRoomChannel

websocket_urlpatterns = [
    path("ws/chat/<str:room_name>/", ChatRoomChannel.as_asgi()),
]
