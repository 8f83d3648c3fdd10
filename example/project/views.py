"""The page and a tiny JSON API for the two ways a browser can authenticate its sockets.

* Session: ``POST /api/login/`` sets Django's session cookie; the sockets send it by themselves.
* Token: ``POST /api/token/`` returns a DRF token; the client sends it in its ``auth`` frame.
"""

import json

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.db import connection
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from rest_framework.authtoken.models import Token


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """The single-page app (every non-API path), with a CSRF cookie for the login form."""
    page = settings.FRONTEND_DIST / "index.html"
    if not page.exists():
        return HttpResponse(
            f"{page} is missing: build the frontend (`make demo` does it).",
            status=503,
            content_type="text/plain",
        )
    return FileResponse(page.open("rb"), content_type="text/html")


def _authenticate(request: HttpRequest) -> object | None:
    """The user named by the JSON body's username and password, or None."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        return None
    username, password = str(body.get("username", "")), str(body.get("password", ""))
    return authenticate(request, username=username, password=password)


def _user_json(user: object) -> dict[str, object]:
    return {"id": user.pk, "username": user.get_username()}  # type: ignore[attr-defined]


@require_POST
def login_view(request: HttpRequest) -> JsonResponse:
    """Session login (CSRF-protected: the page sends the cookie's token as X-CSRFToken)."""
    user = _authenticate(request)
    if user is None:
        return JsonResponse({"error": "wrong username or password"}, status=400)
    login(request, user)
    return JsonResponse(_user_json(user))


@require_POST
def logout_view(request: HttpRequest) -> JsonResponse:
    """End the session."""
    logout(request)
    return JsonResponse({})


@csrf_exempt  # it takes credentials, not cookies
@require_POST
def token_view(request: HttpRequest) -> JsonResponse:
    """Exchange a username and password for the user's DRF token."""
    user = _authenticate(request)
    if user is None:
        return JsonResponse({"error": "wrong username or password"}, status=400)
    token, _ = Token.objects.get_or_create(user=user)
    return JsonResponse({**_user_json(user), "token": token.key})


@require_GET
def me_view(request: HttpRequest) -> JsonResponse:
    """Who is this: the ``Authorization: Token <key>`` header's user, else the session's."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        token = Token.objects.select_related("user").filter(key=header[6:]).first()
        if token is not None and token.user.is_active:
            return JsonResponse(_user_json(token.user))
    elif request.user.is_authenticated:
        return JsonResponse(_user_json(request.user))
    return JsonResponse({"error": "not logged in"}, status=401)


def health_view(request: HttpRequest) -> HttpResponse:
    """For load balancers and health checks: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
