"""One active celery beat in a fleet: django-celery-beat's ``DatabaseScheduler`` behind a database lock.

Every beat process may run (one per machine, or two for failover); only the one holding the lock sends tasks.
The lock is a PostgreSQL session-level advisory lock (``pg_try_advisory_lock``) held on a connection of its own
for the life of the process: it needs no broker feature (so Redis, RabbitMQ and the embedded filesystem broker
all work) and is released by PostgreSQL the moment the leader's process or connection dies, when a standby
takes over at its next poll (``BEAT_STANDBY_POLL_SECONDS``, default 5 s). A leader re-checks its connection at
every tick and steps down if it was lost (the lock went with it). On SQLite (``make run``: one machine, one
beat) there is nothing to coordinate and the scheduler always leads.

Why not celery-redbeat: it keeps the schedule in Redis, so the schedules in the database (the admin's periodic
tasks, created by migrations) would need a second home, and it would tie beat to a Redis broker.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

__all__ = ["BEAT_LOCK_KEY", "SingleBeatScheduler"]

logger = logging.getLogger(__name__)

# The advisory lock's key (an arbitrary 64-bit number that nothing else in this database uses).
BEAT_LOCK_KEY = 0x0B_EA7_5C_4ED


class SingleBeatScheduler(DatabaseScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock_connection: Any = None
        self._leading = False
        self._standby_poll = float(os.environ.get("BEAT_STANDBY_POLL_SECONDS", "5"))
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lead():
            return self._standby_poll
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        super().close()
        self._release()

    # --- the lock -------------------------------------------------------------------------------------------
    def _lead(self) -> bool:
        if connections["default"].vendor != "postgresql":
            return True
        if self._leading:
            if self._still_connected():
                return True
            logger.warning("beat: lost the database connection holding the beat lock; standing by")
            self._release()
        if self._try_lock():
            logger.info("beat: acquired the beat lock; this beat now sends the periodic tasks (pid %s)", os.getpid())
            self._leading = True
            # Read the schedule afresh (last run times written by the previous leader).
            self._initial_read = True
            self._heap = None
        return self._leading

    def _try_lock(self) -> bool:
        try:
            if self._lock_connection is None:
                self._lock_connection = connections.create_connection("default")
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
                return bool(cursor.fetchone()[0])
        except Exception as exc:
            logger.warning("beat: cannot reach the database for the beat lock (%s)", type(exc).__name__)
            self._release()
            return False

    def _still_connected(self) -> bool:
        try:
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:
            return False

    def _release(self) -> None:
        self._leading = False
        if self._lock_connection is not None:
            try:
                self._lock_connection.close()  # ends the session: PostgreSQL releases the lock
            except Exception:
                logger.debug("beat: closing the lock connection failed", exc_info=True)
            self._lock_connection = None
