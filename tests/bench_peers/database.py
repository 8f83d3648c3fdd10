"""One fresh database per peer: migrated with the peer's own settings, then the same rows."""

from __future__ import annotations

import secrets
import subprocess

import psycopg

from rxcdc.testing.services import LocalServices
from tests.bench_peers.peers import ROOT, Peer
from tests.bench_peers.writer import LIVE_ROOM, MARKED

BIG_ROOM = 2
BIG_MESSAGES = 10_000  # the snapshot's room
AUTHORS = 100


def prepare(services: LocalServices, peer: Peer, env: dict[str, str]) -> str:
    """Create and migrate ``peer``'s database, fill both rooms; returns a user's API token."""
    with psycopg.connect(services.postgres.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {peer.database}")
        conn.execute(f"CREATE DATABASE {peer.database}")
    subprocess.run(
        [str(peer.python), "-m", "django", "migrate", "--verbosity", "0"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    token = secrets.token_hex(20)
    last = MARKED + BIG_MESSAGES
    with psycopg.connect(services.postgres.dsn(peer.database), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO peerchat_author (id, name)"
            f" SELECT i, 'author ' || i FROM generate_series(1, {AUTHORS}) i"
        )
        conn.execute(
            "INSERT INTO peerchat_room (id, name) VALUES (%s, 'live'), (%s, 'big')",
            (LIVE_ROOM, BIG_ROOM),
        )
        conn.execute(
            "INSERT INTO peerchat_message (id, room_id, author_id, text)"
            f" SELECT i, CASE WHEN i <= {MARKED} THEN {LIVE_ROOM} ELSE {BIG_ROOM} END,"
            f" i % {AUTHORS} + 1, 'message ' || i FROM generate_series(1, {last}) i"
        )
        for table in ("peerchat_author", "peerchat_room", "peerchat_message"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        row = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, 'bench', '', '', '', false, true, now()) RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
            (token, row[0]),
        )
        conn.execute("VACUUM ANALYZE")
    return token
