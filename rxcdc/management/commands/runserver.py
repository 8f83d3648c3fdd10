"""``runserver --makefrontend``: regenerate the TypeScript client each time the server (re)starts.

Extends daphne's runserver when daphne is installed (else staticfiles', else Django's). List
``"rxcdc"`` before ``"daphne"`` in ``INSTALLED_APPS``: the first app providing a command wins.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError, CommandParser

if apps.is_installed("daphne"):
    from daphne.management.commands.runserver import Command as Base
elif apps.is_installed("django.contrib.staticfiles"):
    from django.contrib.staticfiles.management.commands.runserver import Command as Base
else:
    from django.core.management.commands.runserver import Command as Base


class Command(Base):
    """Runs ``makefrontend`` before serving when ``--makefrontend`` is given."""

    help = f"{Base.help} With --makefrontend, regenerate the TypeScript client on every (re)start."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--makefrontend",
            action="store_true",
            help="run makefrontend whenever the autoreloader (re)starts the server",
        )

    def inner_run(self, *args: Any, **options: Any) -> None:
        # The autoreloader runs inner_run in a fresh child process after every code change, so
        # a changed serializer is in the generated files before the server answers again.
        if options.get("makefrontend"):
            self.makefrontend()
        super().inner_run(*args, **options)

    def makefrontend(self) -> None:
        """Regenerate; a failure is printed and the server still starts."""
        if "makefrontend" not in get_commands():
            self.stderr.write("--makefrontend: the makefrontend command is not installed")
            return
        try:
            call_command("makefrontend", stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:
            self.stderr.write(f"makefrontend failed: {exc}")
