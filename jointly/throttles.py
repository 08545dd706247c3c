"""Request throttles, counted in the shared cache (Redis when set) so every web worker
sees the same counts. Rates live in settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Login throttling (admin, sign-in page, `auth/token/`) is django-axes' job: it counts
failed passwords per username and address. These are DRF's own throttles for the rest.
"""

from types import SimpleNamespace

from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


#: Marks a request whose write was already counted by `count_write`, so the API view it
#: falls through to does not count it a second time.
_COUNTED = "_jointly_write_counted"


class WriteRateThrottle(UserRateThrottle):
    """Writes per user (or per address when anonymous); reads are not counted."""

    scope = "write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS or getattr(request, _COUNTED, False):
            return True
        return super().allow_request(request, view)


def count_write(request, user) -> bool:
    """Count a write answered ahead of DRF (annotation/api/fast_lane.py) against `user`'s
    write rate, exactly as the API view would. False when over the rate: the lane then
    leaves the request to the API view, whose throttle answers 429 with Retry-After."""
    caller = SimpleNamespace(user=user, META=request.META, method=request.method)
    if not WriteRateThrottle().allow_request(caller, None):
        return False
    setattr(request, _COUNTED, True)
    return True


class AccountCreationThrottle(WriteRateThrottle):
    """Accounts created per user (vendor members, vendors with their manager): bounds how
    many accounts one manager's credentials can make."""

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
