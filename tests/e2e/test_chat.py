"""Chat: two pages of one room; a message posted in one page, a raw SQL update from psql."""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from pathlib import Path

from tests.e2e.browser import Browser, Page
from tests.e2e.conftest import ALICE, BOB, Stack, log_in, wait_messages

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "chat-raw-sql.png"


def new_room(stack: Stack, lines: list[tuple[str, str]]) -> tuple[int, str]:
    """A room of its own for this test, with messages by demo users."""
    name = f"standup-{uuid.uuid4().hex[:4]}"
    ((room,),) = stack.sql("INSERT INTO chat_chatroom (name) VALUES (%s) RETURNING id", [name])
    for author, text in lines:
        stack.sql(
            "INSERT INTO chat_message (room_id, author_id, text, created)"
            " SELECT %s, id, %s, clock_timestamp() FROM auth_user WHERE username = %s",
            [room, text, author],
        )
    return room, name


def two_pages(pages: Browser, stack: Stack, name: str) -> tuple[Page, Page]:
    """Alice with a session cookie and Bob with a token, both in room ``name``."""
    alice = pages.new_page("alice", 560, 400)
    log_in(alice, stack, f"/chat/{name}", ALICE, mode="session")
    bob = pages.new_page("bob", 560, 400)
    log_in(bob, stack, f"/chat/{name}", BOB, mode="token")
    return alice, bob


def test_a_message_posted_in_one_page_appears_in_the_other(stack, pages):
    room, name = new_room(stack, [])
    alice, bob = two_pages(pages, stack, name)

    alice.fill("input[name=message]", "hello bob")
    alice.click("text=Send")
    wait_messages(bob, ["hello bob"])
    wait_messages(alice, ["hello bob"])

    bob.fill("input[name=message]", "hi alice")
    bob.press("input[name=message]", "Enter")
    wait_messages(alice, ["hello bob", "hi alice"])
    wait_messages(bob, ["hello bob", "hi alice"])
    assert stack.messages(room) == ["hello bob", "hi alice"]
    authors = (
        "() => [...document.querySelectorAll('[data-message-id] b')].map((b) => b.textContent)"
    )
    assert alice.evaluate(authors) == ["alice", "bob"]


def test_a_raw_sql_update_with_psql_changes_both_pages(stack, pages):
    room, name = new_room(
        stack,
        [
            ("alice", "Shall we ship on Friday?"),
            ("bob", "Only if the browser tests pass."),
            ("alice", "make test says they do."),
        ],
    )
    alice, bob = two_pages(pages, stack, name)
    wait_messages(alice, stack.messages(room))
    wait_messages(bob, stack.messages(room))

    update = f"UPDATE chat_message SET text = upper(text) || ' (psql)' WHERE room_id = {room}"
    stack.psql(update)
    expected = stack.messages(room)
    assert expected[0] == "SHALL WE SHIP ON FRIDAY? (psql)"
    wait_messages(alice, expected)
    wait_messages(bob, expected)
    if os.environ.get("RXCDC_UPDATE_SCREENSHOT"):
        title = f'after <code>psql -c "{update}"</code>'
        side_by_side(pages, title, {"alice (session cookie)": alice, "bob (API token)": bob})


def side_by_side(pages: Browser, title: str, shots: dict[str, Page]) -> None:
    """Save the pages next to each other as docs/chat-raw-sql.png (README links it)."""
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for caption, page in shots.items():
            data = page.screenshot(Path(tmp) / f"{page.name}.png").read_bytes()
            src = "data:image/png;base64," + base64.b64encode(data).decode()
            cells.append(f"<figure><img src='{src}'><figcaption>{caption}</figcaption></figure>")
    style = (
        "body{margin:0;padding:12px 16px;background:#cfd4dc;font:14px sans-serif}"
        "main{display:flex;gap:16px}p{margin:0 0 10px}"
        "figure{margin:0}img{display:block;border:1px solid #999}figcaption{padding-top:6px}"
    )
    composite = pages.new_page("composite", 2 * 560 + 3 * 16 + 4, 400 + 80)
    composite.set_content(f"<style>{style}</style><p>{title}</p><main>{''.join(cells)}</main>")
    composite.screenshot(DOCS_SCREENSHOT)
