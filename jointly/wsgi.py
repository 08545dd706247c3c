"""WSGI entry point (gunicorn jointly.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
application = get_wsgi_application()
