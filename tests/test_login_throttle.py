"""Login throttling (issue 13): 30 wrong passwords, then the right one, does not log in; the lockout page speaks
the UI language; the lock is per username and client address and ends after the cool-off."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from leadrouter.client_ip import client_ip

ADMIN = "/admin/login/"
REPS = "/accounts/login/"


def attempt(client, url, username, password, **extra):
    return client.post(url, {"username": username, "password": password, "next": "/"}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
class TestLockout:
    @pytest.mark.parametrize("url, username", [(ADMIN, "manager"), (REPS, "kasia")])
    def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(self, demo, url, username):
        client = Client()
        for _ in range(30):
            attempt(client, url, username, "wrong")
        response = attempt(client, url, username, "demo")
        assert response.status_code == 429
        assert not logged_in(client)
        assert "Too many failed logins" in response.content.decode()

    def test_four_wrong_then_the_right_one_logs_in_and_resets_the_count(self, demo):
        client = Client()
        for _ in range(4):
            assert attempt(client, REPS, "kasia", "wrong").status_code == 200
        assert attempt(client, REPS, "kasia", "demo").status_code == 302
        assert logged_in(client)
        other = Client()
        for _ in range(4):
            attempt(other, REPS, "kasia", "wrong")
        assert attempt(other, REPS, "kasia", "demo").status_code == 302, "the success reset the count"

    def test_the_lockout_page_speaks_polish_to_a_polish_browser(self, demo):
        client = Client(HTTP_ACCEPT_LANGUAGE="pl")
        for _ in range(5):
            attempt(client, REPS, "kasia", "wrong")
        response = attempt(client, REPS, "kasia", "demo")
        page = response.content.decode()
        assert response.status_code == 429
        assert 'lang="pl"' in page and "Zbyt wiele nieudanych logowań" in page and "15 minut" in page

    def test_the_lock_is_per_user_and_address(self, demo):
        for _ in range(5):
            attempt(Client(), REPS, "kasia", "wrong", REMOTE_ADDR="203.0.113.7")
        assert attempt(Client(), REPS, "kasia", "demo", REMOTE_ADDR="203.0.113.7").status_code == 429
        assert attempt(Client(), REPS, "kasia", "demo", REMOTE_ADDR="198.51.100.9").status_code == 302
        assert attempt(Client(), REPS, "marek", "demo", REMOTE_ADDR="203.0.113.7").status_code == 302

    def test_the_lock_ends_after_the_cool_off(self, demo):
        for _ in range(5):
            attempt(Client(), REPS, "kasia", "wrong")
        assert attempt(Client(), REPS, "kasia", "demo").status_code == 429
        with time_machine.travel(timezone.now() + timedelta(minutes=16)):
            assert attempt(Client(), REPS, "kasia", "demo").status_code == 302

    def test_a_forged_forwarded_for_does_not_escape_the_lock_without_a_trusted_proxy(self, demo):
        for n in range(5):
            attempt(Client(), REPS, "kasia", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        assert attempt(Client(), REPS, "kasia", "demo", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429

    def test_behind_a_trusted_proxy_the_lock_follows_the_client_not_the_proxy(self, demo, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        proxy = {"REMOTE_ADDR": "127.0.0.1"}
        for _ in range(5):
            attempt(Client(), REPS, "kasia", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
        assert attempt(Client(), REPS, "kasia", "demo", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
        assert attempt(Client(), REPS, "kasia", "demo", HTTP_X_FORWARDED_FOR="198.51.100.9", **proxy).status_code == 302
        # A client that writes its own X-Forwarded-For still gets the address the proxy saw.
        forged = "198.51.100.1, 203.0.113.7"
        assert attempt(Client(), REPS, "kasia", "demo", HTTP_X_FORWARDED_FOR=forged, **proxy).status_code == 429

    def test_code_that_logs_in_without_a_request_still_works(self, demo):
        assert Client().login(username="kasia", password="demo")


class _Request:
    def __init__(self, **meta):
        self.META = meta


@pytest.mark.parametrize(
    "count, meta, expected",
    [
        (0, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, "127.0.0.1"),
        (1, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, "203.0.113.7"),
        (1, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.7"}, "203.0.113.7"),
        (2, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.7, 10.0.0.2"}, "203.0.113.7"),
        (2, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, "127.0.0.1"),
        (1, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "127.0.0.1"),
        (1, {"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "2001:db8::1"}, "2001:db8::1"),
    ],
)
def test_client_ip(settings, count, meta, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(_Request(**meta)) == expected
