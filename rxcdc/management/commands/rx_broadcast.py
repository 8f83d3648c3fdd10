"""``manage.py rx_broadcast <source> <message>``: a system message to every connected client."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rxcdc.notify import broadcast_system_message


class Command(BaseCommand):
    """Send a system message (e.g. ``maintenance "back in 5 minutes"``) to all clients."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="a short kind, e.g. system or maintenance")
        parser.add_argument("message")

    def handle(self, *args: Any, **options: Any) -> None:
        broadcast_system_message(options["source"], options["message"])
        self.stdout.write("sent")
