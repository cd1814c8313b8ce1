"""The Django project package: settings, root URLs, the Celery app, WSGI/ASGI and the health check.

It sits on top of every domain app (``providers`` → ``aggregator`` data domain → ``consent`` → ``aggregator.api``
and ``aggregator.webhooks``) and nothing below imports it. ``DJANGO_SETTINGS_MODULE=aggregator.config.settings``;
``celery -A aggregator.config worker``.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
