"""``TaskListChannel``: the signed-in user's tasks, editable from the browser."""

from rxcdc.actions import ActionError, action
from rxcdc.channels import StateChannel

from checklist.models import Task
from checklist.serializers import ItemSerializer, TaskSerializer


class TaskListChannel(StateChannel):
    class Meta:
        anchor = TaskSerializer(many=True)  # a list channel: one anchor per task
        auto_update = True  # a task created anywhere appears without a reload (is_visible)
        writable = {ItemSerializer: ["save", "create", "delete"]}  # optimistic item edits

    def has_permission(self, user):
        return user.is_authenticated

    def list_instances(self, user):
        return Task.objects.filter(user=user)

    def is_visible(self, user, instance):
        return instance.user_id == user.pk

    # Writes from the browser: only to the user's own tasks (the default denies).
    def can_create(self, user, serializer, parent, data):
        return parent.user_id == user.pk

    def can_save(self, user, instance, data):
        return instance.task.user_id == user.pk

    def can_delete(self, user, instance):
        return instance.task.user_id == user.pk

    @action
    def add_task(self, title: str) -> int:
        """Create a task; it arrives through ``auto_update`` like one made anywhere else."""
        title = title.strip()
        if not title:
            raise ActionError("a task needs a title", "invalid")
        return Task.objects.create(user=self.user, title=title[:200]).pk
