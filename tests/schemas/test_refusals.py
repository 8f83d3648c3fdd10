"""What cannot be captured exactly is refused by ``manage.py check``, naming the table or model
and saying what to do; ``rx_replicate`` runs the same checks and does not start."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from rest_framework import serializers

from rxcdc import channels as rx_channels
from rxcdc.channels import StateChannel
from rxcdc.checks import _tables_without_identity, check_keys
from tests.schemaapp.models import Pairing


def sql(*statements: str) -> None:
    with connection.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def refused(match: str) -> None:
    """``check`` and ``rx_replicate`` both stop with an error matching ``match``."""
    with pytest.raises(SystemCheckError, match=match):
        call_command("check", deploy=True)
    with pytest.raises(SystemCheckError, match=match):
        call_command("rx_replicate", skip_checks=False)


def test_the_supported_schemas_pass_the_checks(transactional_db):
    assert _tables_without_identity() == []
    assert check_keys() == []


def test_replica_identity_nothing_is_refused_naming_the_table(transactional_db):
    sql("ALTER TABLE schemaapp_entry REPLICA IDENTITY NOTHING")
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E003"
        assert "'schemaapp_entry' has REPLICA IDENTITY NOTHING" in error.msg
        assert "ALTER TABLE schemaapp_entry REPLICA IDENTITY DEFAULT" in error.hint
        refused("schemaapp_entry' has REPLICA IDENTITY NOTHING")
    finally:
        sql("ALTER TABLE schemaapp_entry REPLICA IDENTITY USING INDEX schemaapp_entry_code_key")


def test_replica_identity_is_checked_on_every_leaf_partition(transactional_db):
    sql("ALTER TABLE schemaapp_book_new_b REPLICA IDENTITY NOTHING")
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E003"
        assert "partition 'schemaapp_book_new_b' of table 'schemaapp_book'" in error.msg
        refused("partition 'schemaapp_book_new_b' of table 'schemaapp_book'")
    finally:
        sql("ALTER TABLE schemaapp_book_new_b REPLICA IDENTITY DEFAULT")


def test_a_partition_whose_identity_index_leaves_out_the_key_is_refused(transactional_db):
    sql(
        "CREATE UNIQUE INDEX schemaapp_book_old_title ON schemaapp_book_old (title)",
        "ALTER TABLE schemaapp_book_old REPLICA IDENTITY USING INDEX schemaapp_book_old_title",
    )
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E004"
        assert "partition 'schemaapp_book_old'" in error.msg and "on title" in error.msg
        assert "ALTER TABLE schemaapp_book_old REPLICA IDENTITY DEFAULT" in error.hint
        refused("partition 'schemaapp_book_old' of table 'schemaapp_book' has REPLICA IDENTITY")
    finally:
        sql(
            "ALTER TABLE schemaapp_book_old REPLICA IDENTITY DEFAULT",
            "DROP INDEX schemaapp_book_old_title",
        )


def test_a_through_table_whose_identity_has_neither_its_key_nor_the_parent_is_refused(
    transactional_db,
):
    sql(
        "CREATE UNIQUE INDEX schemaapp_entry_labels_label ON schemaapp_entry_labels (label_id)",
        "ALTER TABLE schemaapp_entry_labels REPLICA IDENTITY USING INDEX"
        " schemaapp_entry_labels_label",
    )
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E004"
        assert "'schemaapp_entry_labels' has REPLICA IDENTITY USING INDEX on label_id" in error.msg
        assert "includes id or entry_id" in error.hint
        refused("schemaapp_entry_labels' has REPLICA IDENTITY USING INDEX on label_id")
    finally:
        sql(
            "ALTER TABLE schemaapp_entry_labels REPLICA IDENTITY USING INDEX"
            " schemaapp_entry_labels_pair",
            "DROP INDEX schemaapp_entry_labels_label",
        )


def test_a_table_without_primary_key_is_refused(transactional_db):
    sql("ALTER TABLE schemaapp_drawer DROP CONSTRAINT schemaapp_drawer_pkey")
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E002" and "'schemaapp_drawer'" in error.msg
        refused("table 'schemaapp_drawer' is tracked by rxcdc but has no primary key")
    finally:
        sql("ALTER TABLE schemaapp_drawer ADD PRIMARY KEY (slug)")


def test_case_insensitive_keys_are_refused_naming_the_field(transactional_db):
    sql("ALTER TABLE schemaapp_drawer ALTER COLUMN slug TYPE citext")
    try:
        (error,) = _tables_without_identity()
        assert error.id == "rxcdc.E005"
        assert error.msg.startswith("Drawer.slug (column schemaapp_drawer.slug) is citext")
        refused(r"Drawer.slug \(column schemaapp_drawer.slug\) is citext")
    finally:
        sql("ALTER TABLE schemaapp_drawer ALTER COLUMN slug TYPE text")


class PairingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pairing
        fields = ["shelf", "crate", "note"]


class PairingChannel(StateChannel):
    class Meta:
        anchor = PairingSerializer()
        route = "ws/schemas/pairing/<str:pairing>/"


@pytest.fixture
def pairing_channel(monkeypatch) -> type[StateChannel]:
    """Register the channel for this test only (its module is not in an installed app)."""
    installed = rx_channels.all_channels
    monkeypatch.setattr(rx_channels, "all_channels", lambda: [*installed(), PairingChannel])
    return PairingChannel


def test_a_composite_primary_key_is_refused_naming_the_model(pairing_channel, transactional_db):
    (error,) = check_keys()
    assert error.id == "rxcdc.E006"
    assert error.msg.startswith(
        "schemaapp.Pairing (schemaapp_pairing) has a composite primary key (shelf_id, crate_id)"
    )
    assert "Give Pairing a single-column primary key" in error.hint
    refused(r"schemaapp.Pairing \(schemaapp_pairing\) has a composite primary key")


def test_a_model_on_a_view_is_refused_naming_it(transactional_db):
    # An unmanaged model over a view: its rows change with the tables it reads, never itself.
    sql(
        "ALTER TABLE fieldsapp_writer RENAME TO fieldsapp_writer_rows",
        "CREATE VIEW fieldsapp_writer AS SELECT * FROM fieldsapp_writer_rows",
    )
    try:
        errors = [e for e in _tables_without_identity() if e.id == "rxcdc.E007"]
        assert [e.msg.split(" is tracked")[0] for e in errors] == ["'fieldsapp_writer'"]
        assert "is a view" in errors[0].msg and "Track the tables it reads" in errors[0].hint
        refused("'fieldsapp_writer' is tracked by rxcdc but is a view")
    finally:
        sql(
            "DROP VIEW fieldsapp_writer",
            "ALTER TABLE fieldsapp_writer_rows RENAME TO fieldsapp_writer",
        )
