"""Raw-SQL writes on the exactness app, from a connection of their own.

Rows are chosen by *pick*: an index (modulo the count) into the current ids of one kind within
the example's boards, in id order. A sequence of operations therefore means the same rows every
time it runs, whatever ids the database hands out, which is what makes a shrunk failure
replayable. Django's foreign keys have no ON DELETE action in the database, so deletes remove
the children first, in the same transaction, as the ORM's cascade would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

# jsonb integers outside 64 bits, both signs, and unicode that is not NUL.
BIG_INTS = [123456789012345678901234567890, -9223372036854775809, 18446744073709551616]
TEXTS = [
    "a",
    "b",
    "",
    "🦄 emoji 👩‍👩‍👧",
    "مرحبا بالعالم",
    "e\u0301 \u202eRTL override",
    "q'\"\\ \t\n",
]

TRUNCATABLE = {"notes": "exactapp_note", "cards": "exactapp_card CASCADE"}


@dataclass(frozen=True)
class Op:
    """One write operation: a ``Workload`` method's name and its arguments.

    Its repr is the expression that builds it (``OPS.delete_card(card=0)``), so a printed
    failing sequence can be pasted into a regression test.
    """

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"OPS.{self.name}({inner})"


class _OpFactory:
    """``OPS.delete_card(card=0)`` builds ``Op("delete_card", (("card", 0),))``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(Workload, name, None)):
            raise AttributeError(f"no write operation {name!r}")
        return lambda **args: Op(name, tuple(args.items()))


OPS = _OpFactory()


class Workload:
    """Writes on the rows of some boards through one autocommit psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any], users: list[int]) -> None:
        self.conn, self.users = conn, users
        self.boards: list[int] = []
        self.labels: list[int] = []
        self.authors: list[int] = []

    # -- reading ids --------------------------------------------------------------------------

    def _ids(self, query: str) -> list[int]:
        return [r[0] for r in self.conn.execute(query, {"boards": self.boards}).fetchall()]

    def ids(self, kind: str) -> list[int]:
        """The current ids of ``kind`` in the example's boards (labels, authors: the example's)."""
        columns = "SELECT id FROM exactapp_column WHERE board_id = ANY(%(boards)s)"
        cards = f"SELECT id FROM exactapp_card WHERE column_id IN ({columns})"
        query = {
            "column": columns,
            "card": cards,
            "note": f"SELECT id FROM exactapp_note WHERE card_id IN ({cards})",
        }.get(kind)
        if query is not None:
            return self._ids(query + " ORDER BY id")
        table, mine = {"label": ("label", self.labels), "author": ("author", self.authors)}[kind]
        rows = self.conn.execute(
            f"SELECT id FROM exactapp_{table} WHERE id = ANY(%s) ORDER BY id", [mine]
        )
        return [r[0] for r in rows.fetchall()]

    def pick(self, kind: str, n: int) -> int | None:
        """The ``n``-th id of ``kind`` (modulo how many there are), or None if there are none."""
        ids = self.ids(kind)
        return ids[n % len(ids)] if ids else None

    def run(self, op: Op) -> None:
        """Apply one operation."""
        getattr(self, op.name)(**dict(op.args))

    def _one(self, query: str, *params: Any) -> Any:
        return self.conn.execute(query, params).fetchone()[0]

    # -- setup --------------------------------------------------------------------------------

    def create(self, columns: list[list[int]], settings: bool) -> None:
        """Two boards' worth of rows: ``columns[i]`` lists card counts of board ``i``'s columns."""
        with self.conn.transaction():
            for b, board_columns in enumerate(columns):
                board = self._one(
                    "INSERT INTO exactapp_board (title) VALUES (%s) RETURNING id", f"b{b}"
                )
                self.boards.append(board)
                if settings:
                    self.conn.execute(
                        "INSERT INTO exactapp_boardsettings (board_id, color) VALUES (%s, 'red')",
                        [board],
                    )
                for c, cards in enumerate(board_columns):
                    column = self._one(
                        "INSERT INTO exactapp_column (board_id, title, position)"
                        " VALUES (%s, %s, %s) RETURNING id",
                        board,
                        f"c{c}",
                        c,
                    )
                    for k in range(cards):
                        self._insert_card(column, f"card {k}", k, {"k": k})
            for name in ("bug", "idea"):
                self.labels.append(
                    self._one("INSERT INTO exactapp_label (name) VALUES (%s) RETURNING id", name)
                )
            self.authors.append(
                self._one("INSERT INTO exactapp_author (name) VALUES ('ann') RETURNING id")
            )

    def _insert_card(self, column: int, title: str, position: int, payload: Any) -> int:
        return int(
            self._one(
                "INSERT INTO exactapp_card (column_id, title, position, payload)"
                " VALUES (%s, %s, %s, %s::jsonb) RETURNING id",
                column,
                title,
                position,
                json.dumps(payload),
            )
        )

    # -- boards, settings, cover --------------------------------------------------------------

    def rename_board(self, board: int, title: str) -> None:
        b = self.boards[board % len(self.boards)]
        self.conn.execute("UPDATE exactapp_board SET title = %s WHERE id = %s", [title, b])

    def set_settings(self, board: int, color: str) -> None:
        b = self.boards[board % len(self.boards)]
        self.conn.execute(
            "INSERT INTO exactapp_boardsettings (board_id, color) VALUES (%s, %s)"
            " ON CONFLICT (board_id) DO UPDATE SET color = EXCLUDED.color",
            [b, color],
        )

    def delete_settings(self, board: int) -> None:
        b = self.boards[board % len(self.boards)]
        self.conn.execute("DELETE FROM exactapp_boardsettings WHERE board_id = %s", [b])

    def set_cover(self, board: int, caption: str) -> None:
        """A new cover row (outside the state until linked), then the board points at it."""
        b = self.boards[board % len(self.boards)]
        old = self._one("SELECT cover_id FROM exactapp_board WHERE id = %s", b)
        cover = self._one("INSERT INTO exactapp_cover (caption) VALUES (%s) RETURNING id", caption)
        with self.conn.transaction():
            self.conn.execute("UPDATE exactapp_board SET cover_id = %s WHERE id = %s", [cover, b])
            self.conn.execute("DELETE FROM exactapp_cover WHERE id = %s", [old])

    def update_cover(self, board: int, caption: str) -> None:
        b = self.boards[board % len(self.boards)]
        self.conn.execute(
            "UPDATE exactapp_cover SET caption = %s"
            " WHERE id = (SELECT cover_id FROM exactapp_board WHERE id = %s)",
            [caption, b],
        )

    def drop_cover(self, board: int) -> None:
        b = self.boards[board % len(self.boards)]
        with self.conn.transaction():
            old = self._one("SELECT cover_id FROM exactapp_board WHERE id = %s", b)
            self.conn.execute("UPDATE exactapp_board SET cover_id = NULL WHERE id = %s", [b])
            self.conn.execute("DELETE FROM exactapp_cover WHERE id = %s", [old])

    # -- columns ------------------------------------------------------------------------------

    def add_column(self, board: int, title: str, position: int) -> None:
        b = self.boards[board % len(self.boards)]
        self.conn.execute(
            "INSERT INTO exactapp_column (board_id, title, position) VALUES (%s, %s, %s)",
            [b, title, position],
        )

    def update_column(self, column: int, title: str, position: int) -> None:
        """Rename and reposition a column (the board's list is ordered by position)."""
        c = self.pick("column", column)
        self.conn.execute(
            "UPDATE exactapp_column SET title = %s, position = %s WHERE id = %s",
            [title, position, c],
        )

    def delete_column(self, column: int) -> None:
        c = self.pick("column", column)
        cards = "SELECT id FROM exactapp_card WHERE column_id = %(c)s"
        with self.conn.transaction():
            for sql in (
                f"DELETE FROM exactapp_note WHERE card_id IN ({cards})",
                f"DELETE FROM exactapp_card_labels WHERE card_id IN ({cards})",
                "DELETE FROM exactapp_card WHERE column_id = %(c)s",
                "DELETE FROM exactapp_column WHERE id = %(c)s",
            ):
                self.conn.execute(sql, {"c": c})

    # -- cards --------------------------------------------------------------------------------

    def add_card(self, column: int, title: str, position: int, payload: Any) -> None:
        c = self.pick("column", column)
        if c is not None:
            self._insert_card(c, title, position, payload)

    def update_card(self, card: int, title: str, payload: Any) -> None:
        self.conn.execute(
            "UPDATE exactapp_card SET title = %s, payload = %s::jsonb WHERE id = %s",
            [title, json.dumps(payload), self.pick("card", card)],
        )

    def reorder_card(self, card: int, position: int) -> None:
        self.conn.execute(
            "UPDATE exactapp_card SET position = %s WHERE id = %s",
            [position, self.pick("card", card)],
        )

    def swap_cards(self, card: int, other: int) -> None:
        """Swap two cards' positions in one transaction."""
        a, b = self.pick("card", card), self.pick("card", other)
        if a is None or b is None:
            return
        with self.conn.transaction():
            pa = self._one("SELECT position FROM exactapp_card WHERE id = %s", a)
            pb = self._one("SELECT position FROM exactapp_card WHERE id = %s", b)
            self.conn.execute("UPDATE exactapp_card SET position = %s WHERE id = %s", [pb, a])
            self.conn.execute("UPDATE exactapp_card SET position = %s WHERE id = %s", [pa, b])

    def move_card(self, card: int, column: int, position: int) -> None:
        """To another column, of the same board or of the other one."""
        self.conn.execute(
            "UPDATE exactapp_card SET column_id = %s, position = %s WHERE id = %s",
            [self.pick("column", column), position, self.pick("card", card)],
        )

    def _delete_card(self, c: int | None) -> None:
        with self.conn.transaction():
            self.conn.execute("DELETE FROM exactapp_note WHERE card_id = %s", [c])
            self.conn.execute("DELETE FROM exactapp_card_labels WHERE card_id = %s", [c])
            self.conn.execute("DELETE FROM exactapp_card WHERE id = %s", [c])

    def delete_card(self, card: int) -> None:
        self._delete_card(self.pick("card", card))

    def update_then_delete_card(self, card: int, title: str) -> None:
        """Two back-to-back autocommit transactions on one row."""
        c = self.pick("card", card)
        self.conn.execute("UPDATE exactapp_card SET title = %s WHERE id = %s", [title, c])
        self._delete_card(c)

    # -- notes (user_key) ---------------------------------------------------------------------

    def add_note(self, card: int, user: int, text: str) -> None:
        c = self.pick("card", card)
        if c is not None:
            self.conn.execute(
                "INSERT INTO exactapp_note (card_id, user_id, text) VALUES (%s, %s, %s)",
                [c, self.users[user % len(self.users)], text],
            )

    def update_note(self, note: int, text: str) -> None:
        self.conn.execute(
            "UPDATE exactapp_note SET text = %s WHERE id = %s", [text, self.pick("note", note)]
        )

    def hand_over_note(self, note: int, user: int) -> None:
        """The ``user_key`` column changes: the note leaves one user and reaches another."""
        self.conn.execute(
            "UPDATE exactapp_note SET user_id = %s WHERE id = %s",
            [self.users[user % len(self.users)], self.pick("note", note)],
        )

    def delete_note(self, note: int) -> None:
        self.conn.execute("DELETE FROM exactapp_note WHERE id = %s", [self.pick("note", note)])

    # -- labels (many-to-many) and authors (forward FK) ---------------------------------------

    def link_label(self, card: int, label: int) -> None:
        c, lab = self.pick("card", card), self.pick("label", label)
        if c is not None and lab is not None:
            self.conn.execute(
                "INSERT INTO exactapp_card_labels (card_id, label_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                [c, lab],
            )

    def unlink_label(self, card: int, label: int) -> None:
        self.conn.execute(
            "DELETE FROM exactapp_card_labels WHERE card_id = %s AND label_id = %s",
            [self.pick("card", card), self.pick("label", label)],
        )

    def add_label(self, name: str) -> None:
        self.labels.append(
            self._one("INSERT INTO exactapp_label (name) VALUES (%s) RETURNING id", name)
        )

    def rename_label(self, label: int, name: str) -> None:
        """Labels are ordered by name: a rename can reorder a card's list of labels."""
        self.conn.execute(
            "UPDATE exactapp_label SET name = %s WHERE id = %s", [name, self.pick("label", label)]
        )

    def delete_label(self, label: int) -> None:
        lab = self.pick("label", label)
        with self.conn.transaction():
            self.conn.execute("DELETE FROM exactapp_card_labels WHERE label_id = %s", [lab])
            self.conn.execute("DELETE FROM exactapp_label WHERE id = %s", [lab])

    def set_author(self, card: int, author: int | None) -> None:
        a = None if author is None else self.pick("author", author)
        self.conn.execute(
            "UPDATE exactapp_card SET author_id = %s WHERE id = %s", [a, self.pick("card", card)]
        )

    def new_author(self, card: int, name: str) -> None:
        """An author committed outside any state, then a card pointed at it."""
        a = self._one("INSERT INTO exactapp_author (name) VALUES (%s) RETURNING id", name)
        self.authors.append(a)
        self.conn.execute(
            "UPDATE exactapp_card SET author_id = %s WHERE id = %s", [a, self.pick("card", card)]
        )

    def rename_author(self, author: int, name: str) -> None:
        self.conn.execute(
            "UPDATE exactapp_author SET name = %s WHERE id = %s",
            [name, self.pick("author", author)],
        )

    def delete_author(self, author: int) -> None:
        """SET_NULL by hand: the cards first, then the author, in one transaction."""
        a = self.pick("author", author)
        with self.conn.transaction():
            self.conn.execute("UPDATE exactapp_card SET author_id = NULL WHERE author_id = %s", [a])
            self.conn.execute("DELETE FROM exactapp_author WHERE id = %s", [a])

    # -- transactions -------------------------------------------------------------------------

    def big_transaction(self, updates: int, repeat: int) -> None:
        """``updates`` row updates in one transaction: cards then notes in id order, each
        updated ``repeat`` times in a row, cycling until ``updates`` are done.

        Past ``RX_CHUNK_SIZE`` changes it arrives in parts; with ``repeat`` near the chunk size,
        whole parts hold nothing for one of the boards.
        """
        rows = [("card", c) for c in self.ids("card")] + [("note", n) for n in self.ids("note")]
        with self.conn.transaction():
            for i in range(updates if rows else 0):
                kind, pk = rows[(i // repeat) % len(rows)]
                column = "title" if kind == "card" else "text"
                self.conn.execute(
                    f"UPDATE exactapp_{kind} SET {column} = %s WHERE id = %s", [f"big {i}", pk]
                )

    def savepoint_rollback(self, card: int, title: str) -> None:
        """A committed transaction whose savepoint (an update, a note, a delete) rolled back."""
        c = self.pick("card", card)
        if c is None:
            return
        with self.conn.transaction():
            self.conn.execute("UPDATE exactapp_card SET title = %s WHERE id = %s", [title, c])
            with self.conn.transaction(force_rollback=True):
                self.conn.execute(
                    "UPDATE exactapp_card SET title = 'rolled back' WHERE id = %s", [c]
                )
                self.conn.execute(
                    "INSERT INTO exactapp_note (card_id, user_id, text)"
                    " VALUES (%s, %s, 'rolled back')",
                    [c, self.users[0]],
                )
                self._delete_card(c)
            self.conn.execute("UPDATE exactapp_card SET position = position + 1 WHERE id = %s", [c])

    def truncate(self, what: str, updates: int) -> None:
        """TRUNCATE a tracked table at the end of a transaction of ``updates`` card updates
        (every example's rows go; only this one's are watched)."""
        cards = self.ids("card")
        with self.conn.transaction():
            # TRUNCATE refuses to follow deferred FK checks still pending in its transaction.
            self.conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for i in range(updates if cards else 0):
                self.conn.execute(
                    "UPDATE exactapp_card SET title = %s WHERE id = %s",
                    [f"before truncate {i}", cards[i % len(cards)]],
                )
            self.conn.execute(f"TRUNCATE {TRUNCATABLE[what]}")
