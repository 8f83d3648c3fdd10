"""``manage.py demo_data``: the two demo users, chat rooms and checklists (idempotent)."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.models import ChatRoom, Message
from checklist.models import Item, Task

USERS = {"alice": "wonderland", "bob": "builder"}  # username → password (printed by make demo)

ROOMS = {
    "lobby": [
        ("alice", "Welcome to the lobby!"),
        ("bob", "Try editing a message with psql: it shows up here at once."),
    ],
    "random": [("bob", "Anything goes.")],
}

TASKS = {
    "alice": {
        "Groceries": ["Milk", "Eggs", "Coffee"],
        "Release 1.0": ["Write the changelog", "Tag the release"],
    },
    "bob": {"Garden": ["Water the tomatoes", "Fix the fence"]},
}


class Command(BaseCommand):
    help = __doc__

    @transaction.atomic
    def handle(self, *args, **options):
        users = {}
        for name, password in USERS.items():
            user, created = User.objects.get_or_create(username=name)
            if created:
                user.set_password(password)
                user.save()
            users[name] = user
        for room_name, lines in ROOMS.items():
            room, created = ChatRoom.objects.get_or_create(name=room_name)
            if created:
                for author, text in lines:
                    Message.objects.create(room=room, author=users[author], text=text)
        for owner, tasks in TASKS.items():
            for title, items in tasks.items():
                task, created = Task.objects.get_or_create(user=users[owner], title=title)
                if created:
                    Item.objects.bulk_create(Item(task=task, text=text) for text in items)
        self.stdout.write("demo data: users " + ", ".join(f"{u}/{p}" for u, p in USERS.items()))
