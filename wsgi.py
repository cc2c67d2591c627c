"""`app` for gunicorn and `flask --app wsgi`."""

from retreat import create_app

app = create_app()
