"""Writes to one task's items, from a process of its own, until its stdin closes.

``python writer.py <task>`` (with the example's settings in the environment): about 100
transactions per second of updates, inserts and deletes through the ORM; prints the number of
committed transactions after each one, so a test can act between writes.
"""

import os
import random
import select
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django

django.setup()

from checklist.models import Item  # noqa: E402


def main(task: int) -> None:
    rng = random.Random(task)
    count = 0
    while not select.select([sys.stdin], [], [], 0)[0]:  # readable: closed by the test
        ids = list(Item.objects.filter(task_id=task).values_list("id", flat=True))
        op = rng.random()
        if op < 0.6 and ids:
            Item.objects.filter(pk=rng.choice(ids)).update(
                text=f"write {count}", done=rng.random() < 0.5
            )
        elif op < 0.85 or not ids:
            Item.objects.create(task_id=task, text=f"new {count}")
        else:
            Item.objects.filter(pk=rng.choice(ids)).delete()
        count += 1
        print(count, flush=True)
        time.sleep(0.01)  # pacing the load (~100 tx/s), not waiting for anything


if __name__ == "__main__":
    main(int(sys.argv[1]))
