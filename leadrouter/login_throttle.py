"""Login throttling for the admin and the reps' login page: django-axes, with the project's client IP.

`AxesBackend` is axes' standalone backend, except that an `authenticate()` call without a request (code, not
a person at a login form: the test client's `login()`, a management command) is not throttled, instead of
raising: every web login (the admin's and the reps' page use Django's AuthenticationForm) passes the request.
"""

from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
