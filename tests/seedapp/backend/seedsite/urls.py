"""The page: the frontend's build (``../frontend/dist``), served by Django itself."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

DIST = settings.BASE_DIR.parent / "frontend" / "dist"

urlpatterns = [
    path("", serve, {"path": "index.html", "document_root": DIST}),
    re_path(r"^assets/(?P<path>.*)$", serve, {"document_root": DIST / "assets"}),
]
