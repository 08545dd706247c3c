"""Request throttles, counted in the shared cache (Redis when set) so every web worker
sees the same counts. Rates live in settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Login throttling (admin, sign-in page, `auth/token/`) is django-axes' job: it counts
failed passwords per username and address. These are DRF's own throttles for the rest.
"""

from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class WriteRateThrottle(UserRateThrottle):
    """Writes per user (or per address when anonymous); reads are not counted."""

    scope = "write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class AccountCreationThrottle(WriteRateThrottle):
    """Accounts created per user. Usernames are global, so creating one tells whether a name
    is taken; this bounds how fast anyone can ask."""

    scope = "account_creation"


class TokenRequestThrottle(SimpleRateThrottle):
    """Requests to `auth/token/` per client address, whatever their outcome."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class BadTokenThrottle(SimpleRateThrottle):
    """Unknown API tokens per client address: guessing tokens gets 429 after a few tries."""

    scope = "bad_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def record(self, request) -> None:
        """Count one bad token; raise Throttled (429, Retry-After) once over the rate."""
        if not self.allow_request(request, None):
            raise Throttled(wait=self.wait(), detail="Too many invalid tokens from this address.")
