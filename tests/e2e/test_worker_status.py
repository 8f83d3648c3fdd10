"""The example's pages say the worker is down, steadily, and come back live when it returns."""

from __future__ import annotations

import signal
import uuid

from tests.e2e.browser import Page
from tests.e2e.conftest import PASSWORD, Stack, User, log_in, wait_live, wait_messages

# Records every (status, reason) the page's badge shows, from now on, in window.__statuses.
RECORD_STATUSES = """() => {
  const seen = (window.__statuses = []);
  const note = () => {
    const badge = document.querySelector('[data-status]');
    const now = badge ? [badge.dataset.status, badge.dataset.reason ?? null] : null;
    const last = seen[seen.length - 1];
    if (now && (!last || last[0] !== now[0] || last[1] !== now[1])) seen.push(now);
  };
  new MutationObserver(note).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  note();
}"""

WORKER_DOWN = """() => {
  const badge = document.querySelector('[data-status]');
  return badge !== null && badge.dataset.status === 'stale'
    && badge.dataset.reason === 'worker_down' && badge.textContent.includes('worker down');
}"""


def room_with(stack: Stack, text: str) -> str:
    """A chat room of its own with one message; returns its name."""
    name = f"status-{uuid.uuid4().hex[:6]}"
    ((room,),) = stack.sql("INSERT INTO chat_chatroom (name) VALUES (%s) RETURNING id", [name])
    stack.sql(
        "INSERT INTO chat_message (room_id, text, created) VALUES (%s, %s, clock_timestamp())",
        [room, text],
    )
    return name


def open_without_waiting(page: Page, stack: Stack, path: str, user: User) -> None:
    """Log in on ``path`` and record the badge from then on, without waiting for live."""
    page.goto(stack.url + path)
    page.evaluate(RECORD_STATUSES)
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("text=API token")
    page.click("button[type=submit]")


def test_a_crashed_worker_is_a_lasting_worker_down_status_until_it_is_back(stack, pages):
    user = stack.user("status")
    shown = pages.new_page("shown")
    log_in(shown, stack, f"/chat/{room_with(stack, 'before the crash')}", user, mode="token")
    shown.evaluate(RECORD_STATUSES)
    stack.demo.stop_worker(signal.SIGKILL)  # its liveness key stays until its TTL (15 s)
    try:
        # A page opened meanwhile: its room was never loaded, so its snapshot waits on the
        # worker and times out (RX_HEAT_TIMEOUT) while the worker still looks alive.
        late_room = room_with(stack, "loaded once the worker is back")
        late = pages.new_page("late")
        open_without_waiting(late, stack, f"/chat/{late_room}", user)
        for page in (shown, late):
            page.wait_for(WORKER_DOWN, timeout=45)
    finally:
        stack.demo.start_worker()
    for page in (shown, late):
        wait_live(page, timeout=45)
    wait_messages(late, ["loaded once the worker is back"])
    wait_messages(shown, ["before the crash"])

    # Both said why they were not live, steadily: no "connecting"/"loading" between retries
    # (each retry used to show both, then the error again), at most one "loading" when the
    # worker is back and the snapshot comes.
    assert trouble(shown.evaluate("() => window.__statuses"), before=["live"]) == ["stale"]
    late_trouble = trouble(late.evaluate("() => window.__statuses"), before=["connecting"])
    assert "stale" in late_trouble and set(late_trouble) <= {"reconnecting", "stale"}


def trouble(history: list[list[str]], before: list[str]) -> list[str]:
    """The statuses a page showed between its first trouble and live again (run together)."""
    while history and history[0][0] == "idle":  # the first render, before subscribing
        history = history[1:]
    statuses = [status for status, _reason in history]
    first = next(i for i, s in enumerate(statuses) if s in ("reconnecting", "stale"))
    assert statuses[:first] in (before, [*before, "loading"]), history
    assert statuses[-1] == "live", history
    middle = statuses[first:-1]
    if middle[-1] == "loading":
        middle.pop()  # the snapshot, once the worker is back
    reasons = [reason for status, reason in history[first:-1] if status != "loading"]
    assert all(reasons), f"a status without its reason: {history}"
    return [s for i, s in enumerate(middle) if i == 0 or s != middle[i - 1]]
