"""The aggregator: the normalized data domain, the third-party API and its events, and the Django project.

Layers, bottom to top (``tests/test_architecture.py`` keeps them so):

* data domain — ``models``, ``sync/`` (engine, upsert, budget, dispatch), ``connections/`` (bank connect flow and
  credentials), ``delta`` (the delta feed's rules), ``cursors``, ``domain_events`` (publish/subscribe),
  ``exceptions``, ``conf``; it imports only ``providers``.
* ``consent`` (its own top-level app) reads the data domain.
* ``api/`` (the DRF API for third parties) and ``webhooks/`` (a domain-event subscriber) sit on both.
* ``config/`` — settings, root URLs, the Celery app, WSGI/ASGI — on top of everything.
"""
