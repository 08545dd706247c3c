"""A binary copy of every annotator label's numbers, kept by PostgreSQL itself (no model field).

Scoring a project reads tens of millions of keypoint numbers. Stored as JSON,
each one is turned from PostgreSQL's numeric into text and back into a float
on every read, and that conversion was most of a rescore's read time. The
generated column `label_numbers` does it once, when a label is written, in
the layout `review.services.scoring_rows` reads with NumPy: big-endian
float8s,

    per instance: len(keypoints), keypoints..., len(bbox), bbox..., area (NaN if absent)

Being generated, it can never disagree with `instances`, whichever path
wrote the row (submit, import, bulk_create, an admin edit). It is kept for
annotator labels only, the ones scoring reads. A label whose instances are
not numbers of that shape gets NULL, and scoring refuses it, naming it.
Stored uncompressed: doubles hardly compress, and decompressing costs reads.
SQLite (the embedded default) has no such column; scoring parses the JSON.
"""

from django.db import migrations

from jointly.migration_operations import RunSQLOnPostgreSQL

FUNCTION = "jointly_label_numbers"
CREATE_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(instances jsonb) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(instances) <> 'array' THEN
    RETURN NULL;
  END IF;
  RETURN coalesce((
    SELECT string_agg(float8send(u.v), ''::bytea ORDER BY r.n, u.m)
    FROM ROWS FROM (jsonb_to_recordset(instances) AS (keypoints float8[], bbox float8[], area float8))
         WITH ORDINALITY AS r(keypoints, bbox, area, n),
      LATERAL unnest(ARRAY[coalesce(cardinality(r.keypoints), 0)]::float8[] || r.keypoints
                     || ARRAY[coalesce(cardinality(r.bbox), 0)]::float8[] || r.bbox
                     || ARRAY[coalesce(r.area, 'NaN')]) WITH ORDINALITY AS u(v, m)), ''::bytea);
EXCEPTION WHEN others THEN
  RETURN NULL;  -- not a list of instances of numbers: scoring names the label
END $$;
ALTER TABLE annotation_annotation ADD COLUMN label_numbers bytea
  GENERATED ALWAYS AS (CASE WHEN source = 'annotator' THEN {FUNCTION}(instances) END) STORED;
ALTER TABLE annotation_annotation ALTER COLUMN label_numbers SET STORAGE EXTERNAL;
"""
DROP_SQL = f"""
ALTER TABLE annotation_annotation DROP COLUMN label_numbers;
DROP FUNCTION {FUNCTION}(jsonb);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0009_vendor_names_per_organization"),
    ]

    operations = [RunSQLOnPostgreSQL(CREATE_SQL, DROP_SQL)]
