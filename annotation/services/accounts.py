"""Accounts that managers create for a vendor's people, in the vendor's own namespace.

Usernames are global (one sign-in for everyone). If a manager chose the whole
username, a name held by anyone anywhere would have to be refused, and the
refusal would tell the manager that the name exists: an oracle over every
organization's and vendor's people. So a manager chooses a handle and the
server derives the username, `v<vendor id>.<handle>`: a create can only
collide with a name in the vendor's own namespace, and answers the same
whoever else exists.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

#: The longest handle: the namespace (`v` + at most 19 digits + `.`) fits in Django's 150.
HANDLE_MAX_LENGTH = 120
HANDLE_PATTERN = rf"^[\w.@+-]{{1,{HANDLE_MAX_LENGTH}}}$"


def vendor_username(vendor, handle: str) -> str:
    """The sign-in name of the vendor's person called `handle`."""
    return f"v{vendor.pk}.{handle}"


def create_vendor_account(vendor, handle: str, *, password: str | None, password_field: str = "password",
                          **fields):
    """A new account named in the vendor's namespace. Without a password it cannot sign in
    until one is set (the sign-in page's password reset, or an admin). The caller makes
    sure the name is free (it can only be taken by one of the vendor's own people)."""
    user = get_user_model()(username=vendor_username(vendor, handle), **fields)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({password_field: exc.messages}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user
