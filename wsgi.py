"""``gunicorn wsgi:app`` from the source folder; an installed Volna serves ``webapp.wsgi:app``."""

from webapp.wsgi import app

__all__ = ["app"]
