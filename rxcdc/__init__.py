"""rxcdc: live Django REST Framework state in the browser, captured from the Postgres WAL."""

__version__ = "0.1.0.dev0"
