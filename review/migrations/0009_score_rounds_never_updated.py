"""PostgreSQL refuses UPDATE of a score round even from raw SQL, as it does for review decisions.

DELETE stays possible: a round goes with its image (ON DELETE CASCADE), and a
history whose image is gone has nothing left to tell.
"""

from django.db import migrations

from jointly.migration_operations import RunSQLOnPostgreSQL

SQL = """
CREATE OR REPLACE FUNCTION review_scoreround_never_updated() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'score rounds are append-only (UPDATE refused)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER review_scoreround_never_updated BEFORE UPDATE ON review_scoreround
    FOR EACH ROW EXECUTE FUNCTION review_scoreround_never_updated();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS review_scoreround_never_updated ON review_scoreround;
DROP FUNCTION IF EXISTS review_scoreround_never_updated();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("review", "0008_score_rounds_and_gold_audit"),
    ]

    operations = [RunSQLOnPostgreSQL(SQL, DROP_SQL)]
