"""The WSGI entry point of an installed Volna: ``gunicorn webapp.wsgi:app`` from any directory.

Importing it builds the app and starts this process's sender (unless ``SENDER_IN_PROCESS`` is
off), so every WSGI server that imports it, one process or many, sends too.
"""

from . import create_app
from .sending import runner

app = create_app()
runner.start(app)
