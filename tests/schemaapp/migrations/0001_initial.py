"""Tables, domains, partitions and replica identities by hand (see ``DDL``)."""

import django.db.models.deletion
import django.db.models.expressions
from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

# Every table is made here by hand: Django's schema editor cannot partition a table, type a
# column with a domain or set a replica identity. The model state is Django's own.
DDL = """
CREATE SCHEMA IF NOT EXISTS archive;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE DOMAIN schemaapp_key AS integer CHECK (VALUE > 0);
CREATE DOMAIN schemaapp_weight AS numeric(12, 3);
CREATE TYPE schemaapp_mood AS ENUM ('calm', 'busy', 'very busy');

CREATE TABLE schemaapp_shelf (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE schemaapp_book (
    id bigserial, shelf_id bigint NOT NULL, year integer NOT NULL, title text NOT NULL,
    PRIMARY KEY (id, year)
) PARTITION BY RANGE (year);
CREATE TABLE schemaapp_book_old PARTITION OF schemaapp_book FOR VALUES FROM (MINVALUE) TO (2000);
CREATE TABLE schemaapp_book_new PARTITION OF schemaapp_book FOR VALUES FROM (2000) TO (2100)
    PARTITION BY HASH (year);
CREATE TABLE schemaapp_book_new_a PARTITION OF schemaapp_book_new
    FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE schemaapp_book_new_b PARTITION OF schemaapp_book_new
    FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE INDEX schemaapp_book_shelf ON schemaapp_book (shelf_id);

CREATE TABLE schemaapp_crate (id schemaapp_key PRIMARY KEY, label text NOT NULL);
CREATE TABLE schemaapp_item (
    id schemaapp_key PRIMARY KEY,
    crate_id schemaapp_key NOT NULL REFERENCES schemaapp_crate DEFERRABLE INITIALLY DEFERRED,
    name text NOT NULL
);
CREATE TABLE schemaapp_sample (
    id bigserial PRIMARY KEY,
    crate_id schemaapp_key NOT NULL REFERENCES schemaapp_crate DEFERRABLE INITIALLY DEFERRED,
    mood schemaapp_mood NOT NULL, scores integer[] NOT NULL, span int4range NOT NULL,
    price money NOT NULL, wait interval NOT NULL, w integer NOT NULL, h integer NOT NULL,
    area integer GENERATED ALWAYS AS (w * h) STORED, nick citext NOT NULL,
    weight schemaapp_weight NOT NULL
);

CREATE TABLE schemaapp_ledger (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE schemaapp_label (id bigserial PRIMARY KEY, name text NOT NULL);
ALTER TABLE schemaapp_label REPLICA IDENTITY FULL;
CREATE TABLE schemaapp_entry (
    id bigserial PRIMARY KEY,
    ledger_id bigint NOT NULL REFERENCES schemaapp_ledger DEFERRABLE INITIALLY DEFERRED,
    code text NOT NULL, amount integer NOT NULL,
    CONSTRAINT schemaapp_entry_code_key UNIQUE (code)
);
ALTER TABLE schemaapp_entry REPLICA IDENTITY USING INDEX schemaapp_entry_code_key;
CREATE TABLE schemaapp_entry_labels (
    id bigserial PRIMARY KEY,
    entry_id bigint NOT NULL REFERENCES schemaapp_entry DEFERRABLE INITIALLY DEFERRED,
    label_id bigint NOT NULL REFERENCES schemaapp_label DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT schemaapp_entry_labels_pair UNIQUE (entry_id, label_id)
);
ALTER TABLE schemaapp_entry_labels REPLICA IDENTITY USING INDEX schemaapp_entry_labels_pair;

CREATE TABLE archive.vault (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE schemaapp_drawer (
    slug text PRIMARY KEY,
    vault_id uuid NOT NULL REFERENCES archive.vault DEFERRABLE INITIALLY DEFERRED,
    note text NOT NULL
);

CREATE TABLE schemaapp_pairing (
    shelf_id bigint NOT NULL REFERENCES schemaapp_shelf DEFERRABLE INITIALLY DEFERRED,
    crate_id schemaapp_key NOT NULL REFERENCES schemaapp_crate DEFERRABLE INITIALLY DEFERRED,
    note text NOT NULL,
    PRIMARY KEY (shelf_id, crate_id)
);
"""

REVERSE = """
DROP TABLE schemaapp_pairing, schemaapp_drawer, archive.vault, schemaapp_entry_labels,
    schemaapp_entry, schemaapp_label, schemaapp_ledger, schemaapp_sample, schemaapp_item,
    schemaapp_crate, schemaapp_book, schemaapp_shelf;
DROP TYPE schemaapp_mood;
DROP DOMAIN schemaapp_weight, schemaapp_key;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(DDL, REVERSE)],
            state_operations=[
                migrations.CreateModel(
                    name="Crate",
                    fields=[
                        ("id", models.IntegerField(primary_key=True, serialize=False)),
                        ("label", models.TextField()),
                    ],
                    options={
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="Label",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.TextField()),
                    ],
                    options={
                        "ordering": ["name", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="Ledger",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.TextField()),
                    ],
                    options={
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="Shelf",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.TextField()),
                    ],
                    options={
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="Vault",
                    fields=[
                        ("id", models.UUIDField(primary_key=True, serialize=False)),
                        ("name", models.TextField()),
                    ],
                    options={
                        "db_table": 'archive"."vault',
                        "ordering": ["name"],
                    },
                ),
                migrations.CreateModel(
                    name="Item",
                    fields=[
                        ("id", models.IntegerField(primary_key=True, serialize=False)),
                        ("name", models.TextField()),
                        (
                            "crate",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="items",
                                to="schemaapp.crate",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="Entry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("code", models.TextField(unique=True)),
                        ("amount", models.IntegerField()),
                        (
                            "labels",
                            models.ManyToManyField(
                                blank=True, related_name="entries", to="schemaapp.label"
                            ),
                        ),
                        (
                            "ledger",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="entries",
                                to="schemaapp.ledger",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["code"],
                    },
                ),
                migrations.CreateModel(
                    name="Sample",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("mood", models.TextField()),
                        ("scores", ArrayField(models.IntegerField())),
                        ("span", models.TextField()),
                        ("price", models.TextField()),
                        ("wait", models.DurationField()),
                        ("w", models.IntegerField()),
                        ("h", models.IntegerField()),
                        (
                            "area",
                            models.GeneratedField(
                                db_persist=True,
                                expression=django.db.models.expressions.CombinedExpression(
                                    models.F("w"), "*", models.F("h")
                                ),
                                output_field=models.IntegerField(),
                            ),
                        ),
                        ("nick", models.TextField()),
                        ("weight", models.DecimalField(decimal_places=3, max_digits=12)),
                        (
                            "crate",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="samples",
                                to="schemaapp.crate",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="Pairing",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "shelf_id",
                                "crate_id",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("note", models.TextField()),
                        (
                            "crate",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pairings",
                                to="schemaapp.crate",
                            ),
                        ),
                        (
                            "shelf",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pairings",
                                to="schemaapp.shelf",
                            ),
                        ),
                    ],
                ),
                migrations.CreateModel(
                    name="Book",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("year", models.IntegerField()),
                        ("title", models.TextField()),
                        (
                            "shelf",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="books",
                                to="schemaapp.shelf",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["year", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="Drawer",
                    fields=[
                        ("slug", models.TextField(primary_key=True, serialize=False)),
                        ("note", models.TextField()),
                        (
                            "vault",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="drawers",
                                to="schemaapp.vault",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["slug"],
                    },
                ),
            ],
        ),
    ]
