"""Public ids and source ids compared byte by byte (``models.CodeField``).

PostgreSQL: the three columns get the "C" collation, and the ``varchar_pattern_ops`` index
Django made for prefix searches of public ids goes (the unique index serves them now).
SQLite: nothing to do in the database (its text comparison is byte by byte already), so
only the model state changes: an ``AlterField`` there would copy the requests table.
"""

from django.db import migrations

import civicdesk.servicerequests.models

TABLE = "servicerequests_servicerequest"
COLUMNS = (("public_id", 32), ("source", 64), ("source_id", 128))


def _pattern_indexes(cursor):
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s "
        "AND indexdef LIKE '%%(public_id varchar_pattern_ops)'",
        [TABLE],
    )
    return [name for (name,) in cursor.fetchall()]


def _collate(schema_editor, collation):
    quote = schema_editor.quote_name
    changes = ", ".join(
        f"ALTER COLUMN {quote(column)} TYPE varchar({length}){collation}"
        for column, length in COLUMNS
    )
    schema_editor.execute(f"ALTER TABLE {quote(TABLE)} {changes}")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in _pattern_indexes(cursor):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")
    _collate(schema_editor, ' COLLATE "C"')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _collate(schema_editor, "")  # the database's default collation
    quote = schema_editor.quote_name
    name = schema_editor._create_index_name(TABLE, ["public_id"], suffix="_like")
    schema_editor.execute(
        f"CREATE INDEX {quote(name)} ON {quote(TABLE)} ({quote('public_id')} varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("servicerequests", "0006_index_only_set_references"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="servicerequest",
                    name="public_id",
                    field=civicdesk.servicerequests.models.CodeField(max_length=32, unique=True),
                ),
                migrations.AlterField(
                    model_name="servicerequest",
                    name="source",
                    field=civicdesk.servicerequests.models.CodeField(
                        blank=True, default="", max_length=64
                    ),
                ),
                migrations.AlterField(
                    model_name="servicerequest",
                    name="source_id",
                    field=civicdesk.servicerequests.models.CodeField(
                        blank=True, default="", max_length=128
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
