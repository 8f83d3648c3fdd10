# The quickstart's text as written: no lint, no formatting.
# ruff: noqa
# fmt: off
# chat/routing.py
from django.urls import path  # the one line the quickstart leaves out

from chat.channels import ChatRoomChannel

websocket_urlpatterns = [
    path('ws/chat/<str:room_name>/', ChatRoomChannel.as_asgi()),
]
