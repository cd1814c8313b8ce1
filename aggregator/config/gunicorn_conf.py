"""gunicorn settings for production: ``gunicorn -c python:aggregator.config.gunicorn_conf aggregator.config.wsgi``.

Everything can be overridden on the command line or with ``GUNICORN_CMD_ARGS``. With ``PROMETHEUS_MULTIPROC_DIR``
set, a dead worker's metric files are marked dead so ``/metrics`` stops counting its live gauges.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:" + os.environ.get("PORT", "8000"))
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 60
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
