"""Exceptions with a DCRF status and the error list each one becomes in a reply."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException

__all__ = ["ActionMissingException", "InvalidMessage", "format_errors"]


class ActionMissingException(APIException):
    """A frame without an ``action`` key (405, as DCRF)."""

    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    default_detail = _("Unable to find action in message body.")
    default_code = "method_not_allowed"


class InvalidMessage(APIException):
    """A frame that is not a JSON object, or arguments the action does not take (400)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("Invalid message.")
    default_code = "invalid"


def format_errors(detail: Any) -> list[Any]:
    """DCRF's ``errors``: a list as is, anything else wrapped in a list."""
    if isinstance(detail, list):
        return detail
    return [detail]
