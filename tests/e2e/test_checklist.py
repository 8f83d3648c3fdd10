"""Checklist: writes from the page, a bulk update from another process, privacy between users."""

from __future__ import annotations

import json

from rxcdc.testing.waiting import wait_until
from tests.e2e.conftest import log_in, wait_items

ITEM = '[data-task-id="{task}"] [data-item-id="{item}"]'


def test_items_are_created_renamed_ticked_and_deleted_from_the_page(stack, pages):
    user = stack.user("writer")
    task = stack.task(user, "Trip", 2)
    page = pages.new_page("writer")
    log_in(page, stack, "/checklist", user)
    (first, _), (second, _) = [(i, t) for i, t, _ in stack.items(task)]
    wait_items(page, task, stack.items(task))

    page.fill(f'[data-task-id="{task}"] input[name=item]', "Passport")
    page.press(f'[data-task-id="{task}"] input[name=item]', "Enter")
    page.check(ITEM.format(task=task, item=first) + " input[type=checkbox]")
    page.click(ITEM.format(task=task, item=second) + " button[aria-label=rename]")
    page.fill(ITEM.format(task=task, item=second) + " input.rename", "Tickets")
    page.press(ITEM.format(task=task, item=second) + " input.rename", "Enter")
    page.click(ITEM.format(task=task, item=first) + " button[aria-label=delete]")

    final = [["Tickets", False], ["Passport", False]]
    wait_until(
        lambda: [r[1:] for r in stack.items(task)] == final, "the writes reach the database", 30
    )
    wait_items(page, task, stack.items(task))  # confirmed: real ids, nothing pending


def test_a_queryset_update_of_1000_items_from_another_process(stack, pages):
    user = stack.user("bulk")
    task = stack.task(user, "Inventory", 1000)
    page = pages.new_page("bulk")
    log_in(page, stack, "/checklist", user)
    wait_items(page, task, stack.items(task))

    code = (
        "from django.db.models import F, Value\n"
        "from django.db.models.functions import Concat\n"
        "from checklist.models import Item\n"
        f"n = Item.objects.filter(task_id={task}).update("
        "done=True, text=Concat(F('text'), Value(' counted')))\n"
        "print(n)\n"
    )
    done = stack.shell(code, stdout=-1)
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 0 and out.split()[-1] == "1000", out
    expected = stack.items(task)
    assert all(done and text.endswith(" counted") for _, text, done in expected)
    wait_items(page, task, expected, stack=stack)


def test_a_second_users_page_never_shows_the_first_users_checklist(stack, pages):
    first, second = stack.user("first"), stack.user("second")
    own = stack.task(second, "Second's own", 1)
    a = pages.new_page("first")
    log_in(a, stack, "/checklist", first)
    b = pages.new_page("second")
    log_in(b, stack, "/checklist", second, mode="token")
    wait_items(b, own, stack.items(own))

    # The first user makes a task from the page (auto_update), fills it, and psql edits it.
    a.fill("input[name=task]", "SECRET plans")
    a.press("input[name=task]", "Enter")
    a.wait_for(
        "() => [...document.querySelectorAll('h3')].some((h) => h.textContent === 'SECRET plans')"
    )
    ((secret,),) = stack.sql("SELECT id FROM checklist_task WHERE user_id = %s", [first.id])
    a.fill(f'[data-task-id="{secret}"] input[name=item]', "SECRET item")
    a.press(f'[data-task-id="{secret}"] input[name=item]', "Enter")
    # The page's write commits on its own time: edit the item once it is there.
    wait_until(lambda: stack.items(secret), "the page's item is committed", 30)
    stack.psql(f"UPDATE checklist_item SET text = 'SECRET edited' WHERE task_id = {secret}")
    stack.psql(f"INSERT INTO checklist_task (user_id, title) VALUES ({first.id}, 'SECRET two')")
    wait_items(a, secret, stack.items(secret))
    a.wait_for("() => document.body.textContent.includes('SECRET two')")

    # A change to the second user's own task, made last: once it is on the page, everything
    # before it was delivered too (one worker, commit order).
    stack.psql(f"UPDATE checklist_item SET text = 'barrier' WHERE task_id = {own}")
    wait_items(b, own, stack.items(own))

    assert "SECRET" not in b.evaluate("() => document.body.textContent")
    first_tasks = {
        pk for (pk,) in stack.sql("SELECT id FROM checklist_task WHERE user_id = %s", [first.id])
    }
    for frame in b.frames():
        text = json.dumps(frame)
        assert "SECRET" not in text, frame
        assert not first_tasks & set(frame.get("anchors", [])), frame
        assert frame.get("anchor") not in first_tasks, frame
