"""``aggregator_transaction`` becomes a table partitioned by hash of ``account_id`` (PostgreSQL only).

Every reader and writer of transactions names one account (keyset pages, the delta feed, the upsert), so with the
account as the partition key each of them touches one partition of ``PARTITIONS``: smaller indexes, vacuum and
``ANALYZE`` per partition, and a table that can grow to billions of rows.

What PostgreSQL requires of a partitioned table, and what this migration does about it:

* every unique constraint includes the partition key: the primary key becomes ``(id, account_id)`` (Django still
  uses ``id`` as the primary key: it stays unique because only the identity sequence hands it out) and
  ``public_id``'s unique becomes ``(public_id, account_id)`` (``public_id`` is a ``uuid4``: unique by generation;
  a lookup by ``public_id`` alone still uses that index, once per partition);
* no foreign key can point *into* the table (it has no unique ``id`` alone): the references from payments and
  insights are ``db_constraint=False`` in their models, and this migration drops whichever constraint still
  points at the table. Django's deletion collector keeps cascading (``CASCADE`` / ``SET_NULL``) in the ORM, which
  is how every delete of transactions is done (privacy erasure and retention delete through querysets).

The path keeps the data and the ids, in the migration's one transaction: create the partitioned table and its
partitions, copy every row (``INSERT … SELECT``), drop the old table, rename, recreate the constraints and indexes
under their old names, and move the identity sequence on past the old one. The reverse does the same the other
way. On SQLite nothing changes. Copying takes an ``ACCESS EXCLUSIVE`` lock for its duration: run it in a
maintenance window on a large table (about a minute per ten million rows on a small machine).
"""

from __future__ import annotations

from django.db import migrations

TABLE = "aggregator_transaction"
# The number of hash partitions. Changing it later means another rebuild (hash partitions cannot be split in
# place), so it is chosen for growth: 16 partitions of tens of millions of rows each stay well indexed.
PARTITIONS = 16


def _definitions(cursor, table: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The table's constraints (name, type, definition) and the definitions of its plain indexes."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
        "ORDER BY 1",
        [table],
    )
    return constraints, [row[0] for row in cursor.fetchall()]


def _drop_references(cursor, table: str) -> None:
    """Drop the foreign keys of other tables into this one (see the module docstring)."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    for referrer, name in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {referrer} DROP CONSTRAINT "{name}"')


def _key(definition: str, partitioned: bool) -> str:
    """A primary key or unique definition for the new table: with the partition key, or without it again."""
    columns = definition[definition.index("(") + 1 : definition.rindex(")")]
    parts = [c.strip() for c in columns.split(",")]
    if partitioned and "account_id" not in parts:
        parts.append("account_id")
    if not partitioned and len(parts) > 1 and parts[-1] == "account_id" and parts[0] in ("id", "public_id"):
        parts.pop()
    return f"{definition[: definition.index('(')]}({', '.join(parts)})"


def _rebuild(schema_editor, partitioned: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    new = f"{TABLE}_rebuild"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
        if (cursor.fetchone()[0] == "p") == partitioned:
            return  # already in the wanted shape (e.g. a database built by hand)
        constraints, indexes = _definitions(cursor, TABLE)
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (old_sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT last_value, is_called FROM {old_sequence}")
        last_value, is_called = cursor.fetchone()
        _drop_references(cursor, TABLE)
        # Columns in the same order, NOT NULL, defaults, CHECK constraints and the identity; keys come below.
        like = f"LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING STORAGE"
        if partitioned:
            cursor.execute(f"CREATE TABLE {new} ({like}) PARTITION BY HASH (account_id)")
            for remainder in range(PARTITIONS):
                cursor.execute(
                    f"CREATE TABLE {TABLE}_p{remainder:02d} PARTITION OF {new} "
                    f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
                )
        else:
            cursor.execute(f"CREATE TABLE {new} ({like})")
        cursor.execute(f"INSERT INTO {new} SELECT * FROM {TABLE}")  # noqa: S608 - identifiers are constants
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {TABLE}")
        for name, kind, definition in constraints:
            if kind in ("p", "u"):
                definition = _key(definition, partitioned)
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for definition in indexes:
            cursor.execute(definition)  # names the table by its (restored) name
        # The identity's new sequence takes the old one's name (gone with the old table), and goes on where the
        # old one stopped (not merely past the highest surviving row).
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (sequence,) = cursor.fetchone()
        if sequence != old_sequence:
            cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old_sequence.rpartition('.')[2]}")
            sequence = old_sequence
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}")  # noqa: S608
        (highest,) = cursor.fetchone()
        if is_called or highest:
            cursor.execute("SELECT setval(%s, %s, true)", [sequence, max(last_value if is_called else 0, highest)])
        cursor.execute(f"ANALYZE {TABLE}")


def partition(apps, schema_editor) -> None:
    _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor) -> None:
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    # The tables that reference transactions must exist first, so that their foreign keys are dropped here
    # rather than created afterwards against a table that can no longer be referenced.
    dependencies = [
        ("aggregator", "0012_sync_lease"),
        ("payments", "0001_initial"),
        ("insights", "0001_insights_initial"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
