"""Token authentication in one prepared statement, for the engine's hot endpoints.

DRF's TokenAuthentication builds its `select_related` query through the ORM
on every request; on tasks/next and submit, which hundreds of annotators
call in a loop, that compilation is a measurable share of the request. This
subclass asks the same question (a token of an active user) with a constant
statement, so the database can also keep it prepared per connection. The
answer and the errors are DRF's own.
"""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override
from rest_framework import authentication, exceptions

User = get_user_model()

_USER_BY_TOKEN_SQL = (
    f"SELECT u.* FROM {User._meta.db_table} u JOIN authtoken_token t ON t.user_id = u.{User._meta.pk.column} "
    "WHERE t.key = %s"
)


class PreparedTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        users = list(User.objects.raw(_USER_BY_TOKEN_SQL, [key]))
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not users[0].is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return users[0], key


# The same "tokenAuth" scheme in the OpenAPI document as DRF's class: it is the same scheme.
set_override(PreparedTokenAuthentication, "suppress_collision_warning", True)

#: What the engine's views authenticate with: sessions (the web workspace) and tokens.
ENGINE_AUTHENTICATION = [authentication.SessionAuthentication, PreparedTokenAuthentication]
