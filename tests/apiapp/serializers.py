from django.contrib.auth.models import User
from rest_framework import serializers

from tests.apiapp.models import Classroom, Gadget, Widget


class WidgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Widget
        fields = ["id", "name", "color", "size"]


class ClassroomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Classroom
        fields = ["id", "name", "school"]


class GadgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Gadget
        fields = ["code", "label"]


class UserGroupsSerializer(serializers.ModelSerializer):
    groups = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "groups"]

    def get_groups(self, user):
        return sorted(g.pk for g in user.groups.all())
