"""HTTP routes: a small JSON API for logging in, the built assets and the single-page app."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from project import views

urlpatterns = [
    path("api/login/", views.login_view),
    path("api/logout/", views.logout_view),
    path("api/token/", views.token_view),
    path("api/me/", views.me_view),
    path("healthz", views.health_view),
    # Vite puts hashed bundles in dist/assets/. A real deployment may let nginx serve them.
    re_path(r"^assets/(?P<path>.*)$", serve, {"document_root": settings.FRONTEND_DIST / "assets"}),
    re_path(r"^(?!api/|assets/|ws/).*$", views.index),
]
