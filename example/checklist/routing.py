"""Websocket routes of the checklist."""

from django.urls import path

from checklist.channels import TaskListChannel

websocket_urlpatterns = [
    path("ws/checklist/", TaskListChannel.as_asgi()),
]
