"""Cache.anchors_behind: which anchors a connection must resume, each against its own LSN."""

from __future__ import annotations

import uuid

import pymongo

from rxcdc.cache import Cache
from rxcdc.serialize import Row
from rxcdc.state import Delta

LABEL = "testapp.RoomChannel"


def _delta(pk: int) -> Delta:
    row = Row(pk=pk, doc={"id": pk}, links={}, through={}, user=None, parent_fk=None)
    row.text = f'{{"id":{pk}}}'
    return Delta(upserts={("testapp.MessageSerializer", pk): row})


def test_each_anchor_is_behind_only_past_its_own_lsn(services):
    client: pymongo.MongoClient = pymongo.MongoClient(services.mongo.url, directConnection=True)
    cache = Cache("", f"behind_{uuid.uuid4().hex[:8]}", client=client)
    try:
        cache.mark_hot(LABEL, [1, 2, 3], 10)
        cache.write_many(LABEL, {1: _delta(11), 2: _delta(21)}, 80)  # both anchors written at 80
        # 1 has seen 100 (not behind), 2 only 50 (behind), 3 nothing newer, 4 is not hot.
        behind = cache.anchors_behind(LABEL, {1: 100, 2: 50, 3: 50, 4: 200})
        assert behind == {2, 4}
        assert cache.anchors_behind(LABEL, {1: 79}) == {1}
        assert cache.anchors_behind(LABEL, {}) == set()
    finally:
        client.drop_database(cache.db.name)
        client.close()
