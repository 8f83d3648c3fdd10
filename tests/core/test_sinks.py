"""Sinks get every chunk of the tables they name, published with the worker's own messages."""

from django.contrib.auth.models import User

from replication.changes import Insert
from rxcdc.sinks import register, unregister


class UserSink:
    def tables(self):
        return ["auth_user"]

    def messages(self, chunk):
        return [
            ("sink.users", {"type": "sink.user", "username": c.new["username"]})
            for c in chunk.changes
            if isinstance(c, Insert) and c.table == "auth_user"
        ]


def test_a_sink_sees_tables_no_channel_tracks(make_pipeline):
    sink = register(UserSink())
    try:
        pipeline = make_pipeline()
    finally:
        unregister(sink)
    assert "auth_user" in pipeline.worker.tables()
    pipeline.listener.join("sink.users")
    User.objects.create(username="zed")
    pipeline.pump()
    assert pipeline.listener.drain() == [{"type": "sink.user", "username": "zed"}]
