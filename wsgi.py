"""WSGI entry point: `app` for waitress, PythonAnywhere or any WSGI server."""

from leadapp import create_app

app = create_app()
