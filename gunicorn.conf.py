"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py aggregator.config.wsgi``.

Request limits (docs/operations.md, "Server limits"). gunicorn answers a request over its own limits with a
plain-text/HTML 400 or 431 page without ``X-Request-ID`` (not configurable without patching gunicorn), so its
limits sit above ours: the app's input guard (``aggregator/config/input_guard.py``) refuses a request target over
``MAX_URL_LENGTH`` (4,096 bytes) with 414, a header over ``MAX_HEADER_BYTES`` (8,192) or more than
``MAX_HEADER_COUNT`` (64) headers with 431, in the API's JSON error shape with ``X-Request-ID``; only requests
beyond gunicorn's limits below get gunicorn's own page.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Behind a reverse proxy of ours: trust its X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER). Client addresses for the
# login lockout are read by the app (TRUSTED_PROXY_COUNT / CLIENT_IP_HEADER), not by gunicorn.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The request line ("GET /api/v1/…?cursor=… HTTP/1.1"): gunicorn's maximum (default 4,094). The app answers
# 414 JSON from 4,097 bytes of path and query, so only a line over 8,190 bytes meets gunicorn's HTML 400.
limit_request_line = 8190
# Header count: above the app's 64 (JSON 431), below gunicorn's ceiling of 32,768.
limit_request_fields = 100
# One header line (name and value): twice the app's 8,192 (JSON 431); gunicorn's default is 8,190.
limit_request_field_size = 16384
