"""Token authentication in one prepared statement, for the engine's endpoints.

DRF's TokenAuthentication builds its `select_related` query through the ORM
on every request; on the engine's endpoints, which hundreds of annotators
call in a loop, that compilation is a measurable share of the request. This
subclass asks the same question (a token of an active user) with a constant
statement, so the database can also keep it prepared per connection. The
answer and the errors are DRF's own. (tasks/next and submit with a token
mostly skip even that: see fast_lane.py.)
"""

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override
from rest_framework import authentication, exceptions

from jointly.throttles import BadTokenThrottle

from ..prepared import columns, fetch_one

User = get_user_model()

@lru_cache(maxsize=1)
def _user_by_token_sql() -> str:
    return (
        f"SELECT {columns(User, 'u')} FROM {User._meta.db_table} u "
        f"JOIN authtoken_token t ON t.user_id = u.{User._meta.pk.column} WHERE t.key = %s"
    )


class PreparedTokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication in one prepared statement; unknown tokens are throttled
    per address (BadTokenThrottle), so tokens cannot be guessed at full speed."""

    def authenticate(self, request):
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        user = fetch_one(User, _user_by_token_sql(), [key])
        if user is None:
            BadTokenThrottle().record(self._request)
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key


# The same "tokenAuth" scheme in the OpenAPI document as DRF's class: it is the same scheme.
set_override(PreparedTokenAuthentication, "suppress_collision_warning", True)

#: What the engine's views authenticate with: sessions (the web workspace) and tokens.
ENGINE_AUTHENTICATION = [PreparedTokenAuthentication, authentication.SessionAuthentication]


def token_in(request) -> str | None:
    """The key of a well-formed `Authorization: Token <key>` header, or None."""
    parts = authentication.get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != PreparedTokenAuthentication.keyword.lower().encode():
        return None
    try:
        return parts[1].decode()
    except UnicodeError:
        return None
