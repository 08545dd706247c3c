"""Background jobs: one JobRun row per job, run by RQ or in-process.

Every job is recorded in the database so `/api/v1/jobs/{id}/` can report its
state and progress the same way whether a worker ran it from Redis or the
embedded default ran it in-process.
"""
