"""M2M observers: a link added or removed (either side, bulk, raw SQL) is an update of the row."""

import pytest
from django.contrib.auth.models import Group, User

from tests.api.conftest import ask, connected, frame
from tests.api.test_observers import TIMEOUT, caught_up, psql, run
from tests.apiapp import consumers

pytestmark = pytest.mark.django_db(transaction=True)


def user(u, *groups):
    return {"id": u.pk, "username": u.username, "groups": sorted(g.pk for g in groups)}


async def test_instance_mixin_sends_an_update_when_links_change(live_worker, full_identity):
    assert "auth_user_groups" in full_identity  # removals need the through row's old values
    u, other = await run(lambda: [User.objects.create(username=n) for n in ("u", "other")])
    g1, g2, g3 = await run(lambda: [Group.objects.create(name=n) for n in ("g1", "g2", "g3")])
    await caught_up()
    async with connected(consumers.UserInstanceConsumer.as_asgi()) as comm:
        got = await ask(comm, action="subscribe_instance", pk=u.pk, request_id=4)
        assert got == frame("subscribe_instance", None, 201, 4)

        await run(u.groups.add, g1, g2)  # one transaction, two links: one update
        assert await comm.receive_json_from(TIMEOUT) == frame("update", user(u, g1, g2), 200, 4)
        await run(g3.user_set.add, other, u)  # the reverse side
        assert await comm.receive_json_from(TIMEOUT) == frame("update", user(u, g1, g2, g3), 200, 4)
        await run(g1.user_set.remove, u)  # a removal: needs REPLICA IDENTITY FULL
        assert await comm.receive_json_from(TIMEOUT) == frame("update", user(u, g2, g3), 200, 4)
        await run(other.groups.clear)  # another user's links: nothing for u
        await run(u.groups.clear)
        assert await comm.receive_json_from(TIMEOUT) == frame("update", user(u), 200, 4)
        psql(f"INSERT INTO auth_user_groups (user_id, group_id) VALUES ({u.pk}, {g3.pk})")
        assert await comm.receive_json_from(TIMEOUT) == frame("update", user(u, g3), 200, 4)


async def test_model_observer_many_to_many_sends_updates_for_links(live_worker, full_identity):
    g = await run(Group.objects.create, name="g")
    async with connected(consumers.UserLinksConsumer.as_asgi()) as comm:
        u = await run(User.objects.create, username="u")
        assert await comm.receive_json_from(TIMEOUT) == {"body": user(u), "action": "create"}
        await run(u.groups.add, g)
        assert await comm.receive_json_from(TIMEOUT) == {"body": user(u, g), "action": "update"}
        await run(g.delete)  # the group's links go with it (cascade): an update of u
        assert await comm.receive_json_from(TIMEOUT) == {"body": user(u), "action": "update"}
