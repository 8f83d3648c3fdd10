"""``runserver --makefrontend`` regenerates the TypeScript after the autoreloader restarts."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rxcdc.testing.waiting import wait_until
from tests.processes import django_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SERIALIZER = """
from rest_framework import serializers

from tests.testapp.models import Room


class FeRoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = {fields!r}
"""

CHANNELS = """
from rxcdc.channels import StateChannel
from rxfe.serializers import FeRoomSerializer


class FeRoomChannel(StateChannel):
    class Meta:
        anchor = FeRoomSerializer()
        route = "ws/fe/<int:room>/"
"""

SETTINGS = """
from tests.settings import *  # noqa: F403

INSTALLED_APPS = ["rxfe", *INSTALLED_APPS]  # noqa: F405
RX_FRONTEND_DIR = {out!r}
RX_WEBSOCKET_URLCONF = "tests.frontend.routing"  # the test app's channels
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_makefrontend_reruns_when_a_serializer_changes(tmp_path):
    app, out = tmp_path / "rxfe", tmp_path / "out"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "channels.py").write_text(CHANNELS)
    serializer = app / "serializers.py"
    serializer.write_text(SERIALIZER.format(fields=["id"]))
    (tmp_path / "rxfe_settings.py").write_text(SETTINGS.format(out=str(out)))
    log = tmp_path / "runserver.log"
    env = django_env(
        DJANGO_SETTINGS_MODULE="rxfe_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(Path.cwd())]),
    )
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", "--makefrontend", str(free_port())],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    generated = out / "testapp.interfaces.ts"  # interfaces go with the model's app

    def fields():
        text = generated.read_text() if generated.exists() else ""
        start = text.find("export interface FeRoomInstance {")
        return text[start : text.find("}", start)] if start >= 0 else ""

    try:
        wait_until(
            fields, "TypeScript is generated at start", 60, process=proc, context=log.read_text
        )
        # (A BigAutoField key: 64 bits, a bigint on the client past 2^53.)
        assert "readonly id: number | bigint;" in fields() and "name" not in fields()
        wait_until(
            lambda: "Quit the server" in log.read_text(),
            "the server is up",
            60,
            process=proc,
            context=log.read_text,
        )
        serializer.write_text(SERIALIZER.format(fields=["id", "name"]))
        stamp = time.time()

        def regenerated():
            if "readonly name: string;" in fields():
                return True
            # The reloader compares modification times once a second: a change written
            # before it took its first look is only seen after the next one.
            nonlocal stamp
            if time.time() - stamp > 3:
                stamp = time.time()
                os.utime(serializer, (stamp, stamp))
            return False

        wait_until(
            regenerated, "the TypeScript is regenerated", 60, process=proc, context=log.read_text
        )
        assert f"update {generated}" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
