"""Entry point for WSGI servers: ``gunicorn wsgi:app``."""

from webapp import create_app
from webapp.sending import runner

app = create_app()
runner.start(app)  # send from each gunicorn worker too, unless SENDER_IN_PROCESS is off
