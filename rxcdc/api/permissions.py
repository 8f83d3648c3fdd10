"""Consumer permissions: ``has_permission`` before each action, ``can_connect`` on connect.

Compose with ``&``, ``|`` and ``~``; DRF permission classes are wrapped with a request built
from the scope.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions as drf

from rxcdc.api.scope import ensure_async, request_from_scope

__all__ = [
    "AND",
    "NOT",
    "OR",
    "AllowAny",
    "BasePermission",
    "IsAuthenticated",
    "WrappedDRFPermission",
    "wrap",
]

_DRF = (drf.BasePermission, drf.AND, drf.OR, drf.NOT)


class _Operators:
    def __and__(self, other: Any) -> OperandHolder:
        return OperandHolder(AND, self, other)

    def __or__(self, other: Any) -> OperandHolder:
        return OperandHolder(OR, self, other)

    def __rand__(self, other: Any) -> OperandHolder:
        return OperandHolder(AND, other, self)

    def __ror__(self, other: Any) -> OperandHolder:
        return OperandHolder(OR, other, self)

    def __invert__(self) -> OperandHolder:
        return OperandHolder(NOT, self)


class OperandHolder(_Operators):
    """A composed permission class: instantiating it instantiates its operands."""

    def __init__(self, operator: type, *operands: Any) -> None:
        self.operator, self.operands = operator, operands

    def __call__(self) -> Any:
        return self.operator(*(wrap(op()) for op in self.operands))


class _PermissionMeta(_Operators, type):  # type: ignore[misc]  # | composes, not unions
    pass


class BasePermission(metaclass=_PermissionMeta):
    """Override ``has_permission`` (each action) and/or ``can_connect``; either may be sync."""

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        """May ``action`` run? Denies unless overridden."""
        return False

    async def can_connect(self, scope: dict[str, Any], consumer: Any, message: Any = None) -> bool:
        """May the socket open? Allows unless overridden."""
        return True


class AllowAny(BasePermission):
    """Every action, every connection."""

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        return True


class IsAuthenticated(BasePermission):
    """Actions of authenticated users (``scope["user"]``)."""

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        user = scope.get("user")
        return bool(user is not None and user.pk and user.is_authenticated)


class AND(BasePermission):
    """Both operands allow."""

    def __init__(self, op1: Any, op2: Any) -> None:
        self.op1, self.op2 = op1, op2

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        return await _has(self.op1, scope, consumer, action, kwargs) and await _has(
            self.op2, scope, consumer, action, kwargs
        )

    async def can_connect(self, scope: dict[str, Any], consumer: Any, message: Any = None) -> bool:
        return await _connect(self.op1, scope, consumer, message) and await _connect(
            self.op2, scope, consumer, message
        )


class OR(AND):
    """Either operand allows."""

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        return await _has(self.op1, scope, consumer, action, kwargs) or await _has(
            self.op2, scope, consumer, action, kwargs
        )

    async def can_connect(self, scope: dict[str, Any], consumer: Any, message: Any = None) -> bool:
        return await _connect(self.op1, scope, consumer, message) or await _connect(
            self.op2, scope, consumer, message
        )


class NOT(BasePermission):
    """The operand refuses (connecting is not negated: ``~P`` never closes a socket P lets in)."""

    def __init__(self, op1: Any) -> None:
        self.op1 = op1

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        return not await _has(self.op1, scope, consumer, action, kwargs)

    async def can_connect(self, scope: dict[str, Any], consumer: Any, message: Any = None) -> bool:
        return await _connect(self.op1, scope, consumer, message)


class WrappedDRFPermission(BasePermission):
    """A DRF permission, asked with a request built from the scope (the consumer is the view)."""

    mapped_actions = {
        "create": "PUT",
        "update": "PATCH",
        "list": "GET",
        "retrieve": "GET",
        "connect": "HEAD",
    }

    def __init__(self, permission: Any) -> None:
        self.permission = permission

    async def has_permission(
        self, scope: dict[str, Any], consumer: Any, action: str, **kwargs: Any
    ) -> bool:
        method = self.mapped_actions.get(action, action.upper())
        return await self._ask(scope, consumer, method)

    async def can_connect(self, scope: dict[str, Any], consumer: Any, message: Any = None) -> bool:
        return await self._ask(scope, consumer, self.mapped_actions["connect"])

    async def _ask(self, scope: dict[str, Any], consumer: Any, method: str) -> bool:
        def ask() -> bool:
            return bool(self.permission.has_permission(request_from_scope(scope, method), consumer))

        return bool(await ensure_async(ask)())


def wrap(permission: Any) -> Any:
    """A permission instance with the consumer interface (DRF ones are wrapped)."""
    return WrappedDRFPermission(permission) if isinstance(permission, _DRF) else permission


async def _has(
    perm: Any, scope: dict[str, Any], consumer: Any, action: str, kwargs: dict[str, Any]
) -> bool:
    return bool(await ensure_async(perm.has_permission)(scope, consumer, action, **kwargs))


async def _connect(perm: Any, scope: dict[str, Any], consumer: Any, message: Any) -> bool:
    return bool(await ensure_async(perm.can_connect)(scope, consumer, message))
