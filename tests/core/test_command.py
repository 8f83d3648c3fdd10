"""``manage.py rx_replicate`` refuses what it cannot do, and stops cleanly."""

import pytest
from django.core.management import CommandError, call_command

from replication.slot import slot_status
from rxcdc import conf


def test_refuses_to_start_while_another_worker_holds_the_slot(pipeline):
    pipeline.pump()  # the pipeline's stream is now active on the slot
    pid = slot_status(conf.replication_dsn(), conf.get("RX_SLOT_NAME")).active_pid
    assert pid is not None
    with pytest.raises(CommandError, match=rf"PID {pid}"):
        call_command("rx_replicate")


def test_refuses_a_slot_name_postgres_would_reject(settings, transactional_db):
    settings.RX_SLOT_NAME = "Bad-Name"
    with pytest.raises(CommandError, match="Bad-Name"):
        call_command("rx_replicate")
