"""Reclaim overdue leases in bulk: `python manage.py expire_leases` (cron it, e.g. every minute).

The engine already reclaims an overdue lease lazily when its image comes up for
selection; this keeps the states, and so the numbers vendors read (lease
expiries, open leases), current on images nobody has asked for yet.
"""

from django.core.management.base import BaseCommand

from annotation.engine import expire_overdue_leases


class Command(BaseCommand):
    help = "Mark every lease past its expiry as expired and give its slot back."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="images locked per transaction")

    def handle(self, *args, batch_size, **options):
        count = expire_overdue_leases(batch_size=batch_size)
        self.stdout.write(f"Expired {count} overdue lease(s).")
