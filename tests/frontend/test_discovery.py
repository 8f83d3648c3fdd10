"""Routes found without configuration: each app's ``routing.py``, then the ASGI application."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from rxcdc.codegen import CodegenError
from rxcdc.codegen.routes import find_routes
from tests.testapp.channels import BoardsChannel, RoomChannel


@pytest.mark.usefixtures("quickstart")
def test_routes_from_an_apps_routing_module():
    from chat.channels import ChatRoomChannel

    route = find_routes([ChatRoomChannel], None)[ChatRoomChannel]
    assert route.pattern == "ws/chat/<str:room_name>/"
    assert route.params == [("room_name", "str")]


@override_settings(ASGI_APPLICATION="tests.frontend.asgi.application")
def test_routes_from_the_asgi_application():
    # through the protocol router, origin validator, auth stacks and a nested URLRouter;
    # the re_path route of an app that is no channel is none of the generator's business
    routes = find_routes([RoomChannel, BoardsChannel], None)
    assert routes[RoomChannel].pattern == "ws/room/<int:room>/"
    assert routes[BoardsChannel].pattern == "ws/boards/"


@pytest.mark.usefixtures("quickstart")
@override_settings(ASGI_APPLICATION="tests.frontend.asgi.application")
def test_apps_routing_modules_and_asgi_application_together():
    from chat.channels import ChatRoomChannel

    routes = find_routes([ChatRoomChannel, RoomChannel], None)
    assert routes[ChatRoomChannel].pattern == "ws/chat/<str:room_name>/"
    assert routes[RoomChannel].pattern == "ws/room/<int:room>/"


@pytest.mark.usefixtures("quickstart")
def test_the_urlconf_setting_turns_discovery_off():
    from chat.channels import ChatRoomChannel

    with pytest.raises(CodegenError, match=re.escape("chat.ChatRoomChannel: no route found")):
        find_routes([ChatRoomChannel], "tests.frontend.routing")


def test_no_route_says_where_it_looked():
    with pytest.raises(CodegenError) as info:
        find_routes([RoomChannel], None)
    message = str(info.value)
    assert message.startswith("testapp.RoomChannel: no route found")
    for place in ("routing.py", "ASGI_APPLICATION", "RX_WEBSOCKET_URLCONF", "Meta.route"):
        assert place in message


@override_settings(ASGI_APPLICATION="tests.frontend.no_such_module.application")
def test_an_asgi_application_that_cannot_be_imported_is_named():
    with pytest.raises(CodegenError, match=r"ASGI_APPLICATION 'tests\.frontend\.no_such_module"):
        find_routes([RoomChannel], None)
