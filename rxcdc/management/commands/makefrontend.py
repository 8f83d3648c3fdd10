"""``manage.py makefrontend``: write the TypeScript interfaces, channel classes and runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rxcdc.channels import all_channels
from rxcdc.codegen import CodegenError, generate
from rxcdc.codegen.output import compare, write
from rxcdc.conf import rx_settings


class Command(BaseCommand):
    """Generate ``<app>.interfaces.ts``, ``<app>.channels.ts`` and ``rxcdc/*.ts``."""

    help = (
        "Write TypeScript for every StateChannel under RX_FRONTEND_DIR: <app>.interfaces.ts, "
        "<app>.channels.ts and the client runtime in rxcdc/. Only changed files are written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="write nothing; print a diff and exit 1 when the files on disk are out of date",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="write nothing; list what would change"
        )
        parser.add_argument("--output", help="directory to use instead of RX_FRONTEND_DIR")

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["output"] or rx_settings.FRONTEND_DIR
        if not target:
            raise CommandError(
                "set RX_FRONTEND_DIR to the folder of your frontend sources "
                "(e.g. BASE_DIR / 'frontend/src/rx'), or pass --output"
            )
        root = Path(target)
        try:
            files = generate(
                all_channels(),
                websocket_url=rx_settings.WEBSOCKET_URL,
                urlconf=rx_settings.WEBSOCKET_URLCONF,
                overrides=rx_settings.TS_TYPES,
                react=rx_settings.FRONTEND_REACT,
            )
        except CodegenError as exc:
            raise CommandError(str(exc)) from None
        changes = compare(files, root)
        if options["check"]:
            if changes:
                self.stdout.write(changes.diff)
                raise CommandError(
                    f"{root}: generated TypeScript is out of date "
                    f"({self._summary(changes)}); run manage.py makefrontend",
                    returncode=1,
                )
            self.stdout.write(f"{root}: {len(files)} generated files are up to date")
            return
        verb = "would " if options["dry_run"] else ""
        for name in changes.created:
            self.stdout.write(f"{verb}create {root / name}")
        for name in changes.changed:
            self.stdout.write(f"{verb}update {root / name}")
        for name in changes.stale:
            self.stdout.write(f"{verb}remove {root / name}")
        if not options["dry_run"]:
            write(files, root, changes)
        if not changes:
            self.stdout.write(f"{root}: {len(files)} generated files are up to date")

    @staticmethod
    def _summary(changes: Any) -> str:
        parts = [
            f"{len(changes.created)} missing",
            f"{len(changes.changed)} changed",
            f"{len(changes.stale)} stale",
        ]
        return ", ".join(parts)
