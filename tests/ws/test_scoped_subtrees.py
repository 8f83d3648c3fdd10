"""Rows under a ``user_key`` row are as private as it is (invariant 9), and follow it when it is
handed to another user: the old owner gets tombstones for the whole subtree, the new owner gets
the subtree, and neither ever receives the other's text.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from tests.fieldsapp.models import Step, Task
from tests.ws.test_exactness import make_user, sql
from tests.ws.test_serializer_fields import make_shelf, watch

pytestmark = pytest.mark.django_db(transaction=True)

STEP = "fieldsapp.StepSerializer"


def said(w, since: int = 0) -> str:
    """Everything the server sent this client (from frame ``since`` on), as text."""
    return json.dumps(w.ref.frames[since:])


async def test_a_handed_over_row_takes_its_subtree_to_the_new_owner_only(live_worker):
    shelf, _tags = await make_shelf()
    ann, ann_token = await make_user("ann")
    bob, bob_token = await make_user("bob")
    task = await sync_to_async(Task.objects.create)(shelf=shelf, user=bob, title="t")
    step = await sync_to_async(Step.objects.create)(task=task, text="bob's first")
    w_ann, w_bob = await watch("tasks", shelf, ann_token), await watch("tasks", shelf, bob_token)
    assert "bob's first" not in said(w_ann)
    assert "bob's first" in said(w_bob)

    await sync_to_async(sql)(
        "UPDATE fieldsapp_task SET user_id = %s WHERE id = %s", [ann.pk, task.pk]
    )
    await w_ann.converge()
    await w_bob.converge()
    assert [s["text"] for s in w_ann.ref.nested(shelf.pk)["tasks"][0]["steps"]] == ["bob's first"]
    assert not [k for k in w_bob.ref.held(shelf.pk) if k[0] == STEP], "bob kept the steps"

    mark = len(w_bob.ref.frames)
    await sync_to_async(sql)(
        "INSERT INTO fieldsapp_step (task_id, text) VALUES (%s, 'ann secret');"
        " UPDATE fieldsapp_step SET text = 'ann edit' WHERE id = %s",
        [task.pk, step.pk],
    )
    await w_ann.converge()
    await w_bob.converge()
    assert "ann secret" not in said(w_bob, mark) and "ann edit" not in said(w_bob, mark)
    assert [s["text"] for s in w_ann.ref.nested(shelf.pk)["tasks"][0]["steps"]] == [
        "ann edit",
        "ann secret",
    ]

    # New and resumed connections filter the same way, with no memory of earlier frames.
    fresh = await watch("tasks", shelf, bob_token)
    assert "ann secret" not in said(fresh)
    await w_bob.close()
    await sync_to_async(sql)(
        "UPDATE fieldsapp_task SET user_id = %s WHERE id = %s", [bob.pk, task.pk]
    )
    await w_ann.converge()
    assert not [k for k in w_ann.ref.held(shelf.pk) if k[0] == STEP], "ann kept the steps"
    await w_bob.connect(resume=True)
    await w_bob.converge()
    assert [s["text"] for s in w_bob.ref.nested(shelf.pk)["tasks"][0]["steps"]] == [
        "ann edit",
        "ann secret",
    ]
    for w in (w_ann, w_bob, fresh):
        await w.close()
