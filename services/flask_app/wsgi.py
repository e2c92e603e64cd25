"""The WSGI entry point gunicorn loads in each worker (``services.flask_app.wsgi:app``)."""

from services.flask_app.app import create_app

app = create_app()
