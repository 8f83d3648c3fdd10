"""Delete bodies: ``REPLICA IDENTITY FULL`` where observers need old rows, said by a check."""

import io

import pytest
from django.core.management import CommandError, call_command

from rxcdc.api.checks import check_replica_identity
from tests.api.conftest import ask, connected
from tests.api.test_observers import TIMEOUT, caught_up, psql, run
from tests.apiapp import consumers
from tests.apiapp.models import Classroom, School

pytestmark = pytest.mark.django_db(transaction=True)


def flagged():
    warnings = check_replica_identity(databases=["default"])
    assert {w.id for w in warnings} <= {"rxcdc_api.W001"}
    return {w.msg.split()[1] for w in warnings}


def test_the_check_names_tables_without_full_identity_until_the_command_sets_it(transactional_db):
    assert check_replica_identity(databases=None) == []  # a database check: asked for only
    before = flagged()
    # serializer_class / serializer hook: delete bodies; observed M2M: the through table
    assert {"apiapp_widget", "apiapp_classroom", "auth_user", "auth_user_groups"} <= before
    assert "apiapp_gadget" not in before  # its observers send {"pk"} on delete anyway
    with pytest.raises(CommandError, match="need REPLICA IDENTITY FULL"):
        call_command("rx_api_replica_identity", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rx_api_replica_identity", stdout=out)
    try:
        assert {line.split(":")[0] for line in out.getvalue().splitlines()} == before
        assert flagged() == set()
        call_command("rx_api_replica_identity", "--check", stdout=io.StringIO())
    finally:
        from rxcdc.api.replica_identity import set_replica_identity

        set_replica_identity(before, "default")
    assert flagged() == before


async def test_a_delete_carries_the_row_as_the_serializer_hook_saw_it(live_worker, full_identity):
    a = await run(School.objects.create, name="a")
    room = await run(Classroom.objects.create, school=a, name="r")
    await caught_up()
    async with connected(consumers.ClassroomConsumer.as_asgi()) as comm:
        await ask(comm, action="subscribe_school", school=a.pk, request_id=1)
        psql(f"DELETE FROM apiapp_classroom WHERE id = {room.pk}")  # raw SQL: no signal
        assert await comm.receive_json_from(TIMEOUT) == {
            "body": {"id": room.pk, "name": "r", "school": a.pk},
            "action": "delete",
            "request_ids": [1],
        }
