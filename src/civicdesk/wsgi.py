"""WSGI entry point for gunicorn: `gunicorn civicdesk.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")
application = get_wsgi_application()
