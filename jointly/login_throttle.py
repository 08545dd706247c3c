"""django-axes' lockout check, for sign-ins that come with a request.

Every sign-in over HTTP (admin, the sign-in page, `auth/token/`) passes a
request and is counted and locked out by axes. `authenticate()` without one
(the shell, Django's test client `login()`) has no address to count against
and is left to the next backend, where axes' own backend would refuse it.
"""

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
