"""One channel per schema feature; routes as in tests/schemas (for makefrontend)."""

from rxcdc.channels import StateChannel
from tests.schemaapp.serializers import (
    CrateSerializer,
    LedgerSerializer,
    ShelfSerializer,
    VaultSerializer,
)


class _Authenticated(StateChannel):
    class Meta:
        abstract = True

    def has_permission(self, user, **kwargs):
        return user.is_authenticated


class ShelfChannel(_Authenticated):
    class Meta:
        anchor = ShelfSerializer()
        route = "ws/schemas/shelf/<int:shelf>/"


class CrateChannel(_Authenticated):
    class Meta:
        anchor = CrateSerializer()
        route = "ws/schemas/crate/<int:crate>/"


class LedgerChannel(_Authenticated):
    class Meta:
        anchor = LedgerSerializer()
        route = "ws/schemas/ledger/<int:ledger>/"


class VaultChannel(_Authenticated):
    class Meta:
        anchor = VaultSerializer()
        route = "ws/schemas/vault/<uuid:vault>/"
