"""Migration operations of our own.

`RunSQLOnPostgreSQL`: SQL that only PostgreSQL gets (triggers, generated
columns, functions). SQLite, the embedded default, has no such features and
works without them, so it skips the operation; the app's code checks the
vendor where it relies on one.
"""

from django.db import migrations


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """`RunSQL` on PostgreSQL, nothing elsewhere. Each script is sent whole (dollar-quoted function
    bodies included), not split into statements."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(self.sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(self.reverse_sql)
