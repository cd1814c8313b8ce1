"""Where a sync run got to, so that a retry resumes instead of reading the bank again.

A run is retried on the same ``SyncRun`` — by the Celery task after a transient error, or by the engine itself
after the bank refused the access token mid-way and the credentials were refreshed. The steps a run finished are
recorded in ``connection.sync_state["progress"]`` (``{"run": <SyncRun pk>, "done": [...]}``):

* ``balances:<provider account id>`` — the account's balances are stored;
* ``transactions:<provider account id>`` — the account's window listing is stored and reconciled;
* ``listed:<provider account id>`` — the bank served the first page of that listing (on banks with an unattended
  budget, where that page is a counted access: re-reading it costs budget again).

A retry skips finished steps, so it asks the bank only for what the run still lacks (a budgeted bank's daily
allowance is not spent twice on one run). Everything a step stored is exact on its own (pages commit
atomically), so skipping it leaves the same rows as redoing it. Progress of another run is ignored; the record is
dropped when the run succeeds. Cursor dialects need nothing here for transactions: their cursor is already
saved with each page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connection as db
from django.db import models, transaction

from ..models import Connection, SyncRun

__all__ = ["PROGRESS_KEY", "RunProgress", "sync_state_set", "sync_state_update"]

PROGRESS_KEY = "progress"


def sync_state_update(connection: Connection, change: Callable[[dict], None]) -> dict:
    """Apply ``change`` to the connection's ``sync_state`` under a row lock (other keys are kept as stored) and
    mirror the result on ``connection``; returns the new state. Must be called outside the caller's atomic
    block or inside one that may take the row lock."""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().only("pk", "sync_state").get(pk=connection.pk)
        state = dict(locked.sync_state or {})
        change(state)
        Connection.objects.filter(pk=connection.pk).update(sync_state=state)
    connection.sync_state = state
    return state


class _SetKey(models.Func):
    """A JSON column with one top-level key set to ``value``, computed by the database (PostgreSQL ``jsonb_set``,
    SQLite ``json_set``): one UPDATE, no read and no row lock, and the other keys stay as stored."""

    output_field = models.JSONField()

    def __init__(self, column: str, key: str, value: Any) -> None:
        super().__init__(models.F(column))
        self.key, self.value = key, json.dumps(value)

    def as_postgresql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        column, params = compiler.compile(self.source_expressions[0])
        sql = f"jsonb_set(COALESCE({column}, '{{}}'::jsonb), ARRAY[%s]::text[], %s::jsonb)"
        return sql, (*params, self.key, self.value)

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        column, params = compiler.compile(self.source_expressions[0])
        return f"json_set(COALESCE({column}, '{{}}'), %s, json(%s))", (*params, f"$.{self.key}", self.value)


def sync_state_set(connection: Connection, key: str, value: Any) -> None:
    """Set one key of the connection's ``sync_state`` (the other keys are kept as stored) and mirror it on
    ``connection``. Inside the caller's transaction when there is one."""
    if db.vendor in ("postgresql", "sqlite"):
        Connection.objects.filter(pk=connection.pk).update(sync_state=_SetKey("sync_state", key, value))
        connection.sync_state = {**(connection.sync_state or {}), key: value}
    else:
        sync_state_update(connection, lambda state: state.__setitem__(key, value))


class RunProgress:
    """The finished steps of ``sync_run`` (empty for a run that has not started before)."""

    def __init__(self, connection: Connection, sync_run: SyncRun) -> None:
        self.connection = connection
        self.run_id = sync_run.pk
        stored = (connection.sync_state or {}).get(PROGRESS_KEY) or {}
        self.done: set[str] = set(stored.get("done") or []) if stored.get("run") == sync_run.pk else set()

    def has(self, step: str) -> bool:
        return step in self.done

    def mark(self, step: str) -> None:
        if step in self.done:
            return
        self.done.add(step)
        sync_state_set(self.connection, PROGRESS_KEY, {"run": self.run_id, "done": sorted(self.done)})

    @staticmethod
    def forget(state: dict) -> None:
        """Drop the progress record from a ``sync_state`` dict (the run is over)."""
        state.pop(PROGRESS_KEY, None)
