"""The channel the exactness state machine watches: one board per connection."""

from rxcdc.channels import StateChannel
from tests.exactapp.serializers import BoardSerializer


class BoardChannel(StateChannel):
    class Meta:
        anchor = BoardSerializer()
        route = "ws/exact/board/<int:board>/"  # as in tests/asgi.py (for makefrontend)

    def has_permission(self, user, **kwargs):
        # The chaos suite withdraws a user's permission by renaming them banned-*.
        return user.is_authenticated and not user.username.startswith("banned-")
