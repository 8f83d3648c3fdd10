"""wal2json v2 messages → typed structs: exact numbers, and a clear error for anything else."""

from decimal import Decimal

import pytest

from replication.errors import ProtocolError
from replication.wal2json import (
    BeginMessage,
    Column,
    LogicalMessage,
    UpdateMessage,
    decode,
)


def test_an_update_decodes_to_its_struct_skipping_keys_it_does_not_need():
    message = decode(
        '{"action":"U","xid":7,"timestamp":"2026-12-01 06:18:32.84476+00","lsn":"0/11D464D8",'
        '"schema":"public","table":"t","columns":[{"name":"id","typeoid":20,"value":1},'
        '{"name":"n","typeoid":1700,"value":12345678901234567890.123456789}],'
        '"identity":[{"name":"id","typeoid":20,"value":1}]}'
    )
    assert message == UpdateMessage(
        schema="public",
        table="t",
        columns=[
            Column("id", 20, 1),
            Column("n", 1700, Decimal("12345678901234567890.123456789")),
        ],
        identity=[Column("id", 20, 1)],
    )


def test_every_number_keeps_its_exact_value():
    message = decode(
        '{"action":"I","schema":"s","table":"t","columns":['
        '{"name":"big","typeoid":1700,"value":-123456789012345678901234567890},'
        '{"name":"tiny","typeoid":1700,"value":0.000000000000000000000000000001},'
        '{"name":"exp","typeoid":701,"value":1e+300},'
        '{"name":"neg0","typeoid":1700,"value":-0.0}]}'
    )
    values = [c.value for c in message.columns]  # type: ignore[union-attr]
    assert values == [
        -123456789012345678901234567890,
        Decimal("1E-30"),
        Decimal("1E+300"),
        Decimal("-0.0"),
    ]
    assert [type(v) for v in values] == [int, Decimal, Decimal, Decimal]
    assert str(values[3]) == "-0.0"


def test_begin_and_messages_keep_what_the_stream_reads():
    begin = decode(
        '{"action":"B","xid":777,"timestamp":"2026-12-01 06:18:32.84476+00",'
        '"lsn":"0/135374C0","nextlsn":"0/135374F0"}'
    )
    assert begin == BeginMessage(777, "2026-12-01 06:18:32.84476+00", "0/135374F0")
    notice = decode(
        '{"action":"M","xid":null,"timestamp":null,"lsn":"0/13537568","transactional":false,'
        '"prefix":"rx_heartbeat","content":"{\\"emitted_at\\": \\"x\\"}"}'
    )
    assert notice == LogicalMessage(False, "rx_heartbeat", '{"emitted_at": "x"}')


@pytest.mark.parametrize(
    "payload",
    [
        '{"action":"X","xid":1}',  # an action wal2json v2 does not have
        '{"xid":1}',  # no action
        '{"action":"U","schema":"s","table":"t","columns":[]}',  # no identity
        '{"action":"I","schema":"s","table":"t","columns":[{"name":"id","value":1}]}',  # typeoid
        '{"action":"B","xid":"not a number","timestamp":"t","nextlsn":"0/1"}',
        '{"action":"C"',  # cut short
        "not json",
    ],
)
def test_anything_but_a_wal2json_v2_message_raises_protocol_error(payload):
    with pytest.raises(ProtocolError, match="unexpected wal2json message"):
        decode(payload)
