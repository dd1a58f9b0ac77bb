"""Content-Security-Policy on the pages (issue 13), and the pages still work under it.

The policy allows scripts from this site, inline scripts carrying the request's nonce, and inline event
handlers only by hash. So on every page: each inline <script> carries the nonce of its response's header, and
each inline handler attribute (onclick=...) is one whose hash the policy lists; no javascript: URLs.
"""

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import NoReverseMatch, reverse

DATA_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template"}


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_scripts, self.handlers, self.js_urls = [], [], []
        self._open = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on") and value is not None:
                self.handlers.append(value)
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.js_urls.append(value)
        if tag == "script" and "src" not in attrs and attrs.get("type") not in DATA_SCRIPT_TYPES:
            self._open = attrs
            self.inline_scripts.append(attrs)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def assert_page_keeps_the_policy(response, where: str):
    assert response.has_header("Content-Security-Policy"), where
    directives = policy(response)
    nonces = {value[len("'nonce-") : -1] for value in directives["script-src"] if value.startswith("'nonce-")}
    hashes = {value[len("'sha256-") : -1] for value in directives["script-src"] if value.startswith("'sha256-")}
    page = _Scripts()
    page.feed(response.content.decode())
    for attrs in page.inline_scripts:
        assert attrs.get("nonce") in nonces, (where, "inline script without the response's nonce", attrs)
    for handler in page.handlers:
        digest = base64.b64encode(hashlib.sha256(handler.encode()).digest()).decode()
        assert digest in hashes, (where, "inline handler the policy does not allow", handler)
    assert not page.js_urls, (where, page.js_urls)


@pytest.fixture
def manager_client(demo, api):
    for body in ({"email": "a@firma-a.example", "source": "demo_request"}, {"email": "b@firma-b.example", "company_size": 400}):
        assert api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json").status_code == 201
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@techpol.example", "x"))
    return client


def test_the_policy_is_strict_for_scripts_and_objects(client, db):
    directives = policy(client.get("/accounts/login/"))
    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"] and directives["base-uri"] == ["'self'"]


@pytest.mark.django_db
def test_the_login_page_and_the_reps_page_keep_the_policy(demo, kasia):
    client = Client()
    assert_page_keeps_the_policy(client.get("/accounts/login/"), "login")
    client.force_login(kasia.user)
    response = client.get("/my-leads/")
    assert response.status_code == 200
    assert_page_keeps_the_policy(response, "my-leads")
    assert b"data-autosubmit" in response.content, "the language menu still submits itself, by a nonce'd script"


@pytest.mark.django_db
def test_the_admin_change_lists_render_under_the_policy(manager_client):
    checked = 0
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        response = manager_client.get(reverse(f"{prefix}_changelist"))
        assert response.status_code == 200, prefix
        assert_page_keeps_the_policy(response, prefix)
        try:
            add = reverse(f"{prefix}_add")
        except NoReverseMatch:
            add = None
        if add and (response := manager_client.get(add)).status_code == 200:
            assert_page_keeps_the_policy(response, add)
        first = model._default_manager.first()
        if first is not None:
            change = reverse(f"{prefix}_change", args=[first.pk])
            assert_page_keeps_the_policy(manager_client.get(change), change)
        checked += 1
    assert checked >= 20


@pytest.mark.django_db
def test_the_admin_extra_pages_render_under_the_policy(manager_client):
    urls = ["/admin/", "/admin/dashboard/", "/admin/routing-setup/", "/admin/reps/territory/import/", "/admin/reps/territory/export/"]
    for url in urls:
        response = manager_client.get(url)
        assert response.status_code == 200, url
        assert_page_keeps_the_policy(response, url)


def test_the_import_export_handler_hash_is_the_one_the_policy_lists(settings):
    handler = "onSelectToggleChange(event)"
    digest = base64.b64encode(hashlib.sha256(handler.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"]
    import import_export

    template = (re.sub(r"/__init__\.py$", "", import_export.__file__)) + "/templates/admin/import_export/export.html"
    assert f'onchange="{handler}"' in open(template, encoding="utf-8").read(), "django-import-export changed its handler: update the hash"
