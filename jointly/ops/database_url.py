"""The URL of the database Django is connected to (the test database under pytest)."""

from urllib.parse import quote

from django.db import connection


def current_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"{connection.vendor}://"
    auth = quote(s["USER"] or "postgres") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{quote(s['NAME'])}"
