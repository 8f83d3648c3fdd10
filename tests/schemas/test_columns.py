"""Column types that are not keys: the worker re-reads rows through Django and DRF, so a change
to any of them only has to be routed (and its WAL value decoded without failing)."""

from __future__ import annotations

from tests.schemaapp.models import Crate
from tests.schemaapp.serializers import CrateSerializer

from .harness import asql, watch

SAMPLE = (
    "INSERT INTO schemaapp_sample (crate_id, mood, scores, span, price, wait, w, h, nick, weight)"
    " VALUES (1, 'calm', '{1,NULL,3}', '[1,5)', 12.5, '1 day 02:03:04.5', 2, 3, 'MiXed', 1.5)"
)

CHANGES = [
    "mood = 'very busy'",  # enum
    "scores = '{}'",  # array
    "scores = scores || 7",
    "span = 'empty'",  # range
    "span = '(,10]'",
    "price = -1234567.89",  # money
    "wait = '-3 years 2 mons'",  # interval
    "w = 7",  # the generated column follows
    "nick = 'ÉTÉ'",  # citext
    "weight = 123456789.125",  # a domain over numeric
]


async def test_changes_to_enum_array_range_money_interval_generated_citext_and_domain_columns(
    live_worker,
):
    await asql("INSERT INTO schemaapp_crate VALUES (1, 'c')")
    await asql(SAMPLE)
    w = await watch("/ws/schemas/crate/1/", CrateSerializer, Crate, 1)
    for change in CHANGES:
        await asql(f"UPDATE schemaapp_sample SET {change}")
        state = await w.converge()
        assert state is not None
    assert state["samples"][0]["area"] == 21
    assert state["samples"][0]["mood"] == "very busy"
    await asql(SAMPLE)
    await w.converge()
    await asql("DELETE FROM schemaapp_sample WHERE mood = 'calm'")
    state = await w.converge()
    assert state is not None and len(state["samples"]) == 1
    await w.close()
