"""Failures while pages are open: the worker crashes, the server drops the sockets."""

from __future__ import annotations

import signal

from tests.e2e.conftest import log_in, wait_items, wait_live


def two_pages(stack, pages, prefix):
    """A user with a task of 30 items, shown in two pages (session and token)."""
    user = stack.user(prefix)
    task = stack.task(user, "Under fire", 30)
    first = pages.new_page("session")
    log_in(first, stack, "/checklist", user, mode="session")
    second = pages.new_page("token")
    log_in(second, stack, "/checklist", user, mode="token")
    for page in (first, second):
        wait_items(page, task, stack.items(task))
    return task, first, second


def test_pages_converge_after_the_worker_is_killed_and_restarted_during_writes(stack, pages):
    task, first, second = two_pages(stack, pages, "crash")
    writer = stack.writer(task)
    try:
        writer.wait_for(20)
        stack.demo.stop_worker(signal.SIGKILL)  # no clean shutdown, nothing acknowledged
        writer.wait_for(50)  # committed while no worker runs
        stack.demo.start_worker()
        writer.wait_for(50)  # and after it is back
    finally:
        writes = writer.stop()
    assert writes >= 120
    expected = stack.items(task)
    for page in (first, second):
        wait_items(page, task, expected, timeout=60, stack=stack)


def test_pages_reconnect_and_converge_after_the_server_drops_their_sockets(stack, pages):
    task, first, second = two_pages(stack, pages, "drop")
    writer = stack.writer(task)
    try:
        writer.wait_for(20)
        stack.demo.stop_web()  # daphne exits: it closes every socket
        for page in (first, second):
            page.wait_for("() => document.querySelector('[data-status=live]') === null")
        writer.wait_for(50)  # missed while disconnected: the resume must bring them
        stack.demo.start_web()
        writer.wait_for(30)
    finally:
        writer.stop()
    expected = stack.items(task)
    for page in (first, second):
        wait_live(page)
        wait_items(page, task, expected, timeout=60, stack=stack)
