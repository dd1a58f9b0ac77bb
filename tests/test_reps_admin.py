"""The reps admin writes through reps/services.py: the status edited on the reps list, the routing-fallback pool."""

import threading
import time

import pytest
from django.db import connection, transaction

import reps.admin
from reps.models import Pool, Rep
from reps.services import pool_fallback_set


@pytest.fixture
def manager_client(demo, client):
    client.login(username="manager", password="demo")
    return client


@pytest.fixture
def service_calls(monkeypatch):
    """Records every call the admin makes to the reps services (and still makes it)."""
    calls = []
    for name in ["rep_status_set", "pool_fallback_set"]:
        real = getattr(reps.admin, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(reps.admin, name, spy)
    return calls


def fallback_pools() -> list[str]:
    return list(Pool.objects.filter(is_fallback=True).values_list("name", flat=True))


# ---------------------------------------------------------------------------------------------- rep status on the list


def test_status_edited_on_the_reps_list_is_set_by_the_service(manager_client, kasia, service_calls):
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(kasia.pk),
        "form-0-status": Rep.Status.IN_MEETING,
        "_save": "Save",
    }
    response = manager_client.post("/admin/reps/rep/", data)

    assert response.status_code == 302
    kasia.refresh_from_db()
    assert kasia.status == Rep.Status.IN_MEETING
    assert service_calls == [("rep_status_set", {"rep": kasia, "status": "in_meeting"})]


def test_the_reps_list_offers_only_the_status_to_edit(manager_client, kasia):
    formset = manager_client.get("/admin/reps/rep/").context["cl"].formset
    assert list(formset.forms[0].fields) == ["status", "id"]


def test_an_unknown_status_on_the_reps_list_changes_nothing(manager_client, kasia, service_calls):
    data = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(kasia.pk), "form-0-status": "asleep", "_save": "Save"}
    response = manager_client.post("/admin/reps/rep/", data)

    assert response.status_code == 200
    kasia.refresh_from_db()
    assert kasia.status == Rep.Status.AVAILABLE
    assert service_calls == []


def test_the_rep_change_form_still_saves_the_whole_rep(manager_client, kasia):
    page = manager_client.get(f"/admin/reps/rep/{kasia.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name not in ("notify_via",)}
    data |= {"user": kasia.user_id, "phone": "+48 600 100 200", "notify_via": "[]", "languages": "pl,en"}
    for prefix in ["absences", "memberships"]:
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = manager_client.post(f"/admin/reps/rep/{kasia.pk}/change/", {k: v for k, v in data.items() if not isinstance(v, bool) or v})

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    kasia.refresh_from_db()
    assert kasia.phone == "+48 600 100 200" and kasia.language_list == ["pl", "en"]


# ---------------------------------------------------------------------------------------------- the fallback pool


def pool_form(*, name: str, is_fallback: bool) -> dict[str, str]:
    data = {"name": name, "fallback_rep": "", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    if is_fallback:
        data["is_fallback"] = "on"
    return data


def test_making_a_pool_the_fallback_in_the_admin_moves_the_flag_through_the_service(manager_client, service_calls):
    demo_pool = Pool.objects.get(name="Demo")
    assert fallback_pools() == ["Juniors"]

    response = manager_client.post(f"/admin/reps/pool/{demo_pool.pk}/change/", pool_form(name="Demo", is_fallback=True))

    assert response.status_code == 302
    assert fallback_pools() == ["Demo"]
    assert [name for name, _kwargs in service_calls] == ["pool_fallback_set"]
    assert demo_pool.memberships.count() == 3  # the pool's members are untouched


def test_the_pool_page_shows_which_pool_is_the_fallback(manager_client):
    for name, ticked in [("Juniors", True), ("Demo", False)]:
        page = manager_client.get(f"/admin/reps/pool/{Pool.objects.get(name=name).pk}/change/")
        box = page.context["adminform"].form["is_fallback"]
        assert box.value() is ticked, name
        assert ("checked" in str(box)) is ticked, name


def test_a_new_pool_added_as_the_fallback_takes_the_flag(manager_client):
    response = manager_client.post("/admin/reps/pool/add/", pool_form(name="Weekend", is_fallback=True))

    assert response.status_code == 302
    assert fallback_pools() == ["Weekend"]


def test_renaming_the_fallback_pool_keeps_it_the_fallback(manager_client):
    juniors = Pool.objects.get(name="Juniors")
    response = manager_client.post(f"/admin/reps/pool/{juniors.pk}/change/", pool_form(name="Młodsi", is_fallback=True))

    assert response.status_code == 302
    assert fallback_pools() == ["Młodsi"]


def test_unticking_the_fallback_leaves_no_fallback_pool(manager_client, service_calls):
    juniors = Pool.objects.get(name="Juniors")
    response = manager_client.post(f"/admin/reps/pool/{juniors.pk}/change/", pool_form(name="Juniors", is_fallback=False))

    assert response.status_code == 302
    assert fallback_pools() == []
    assert service_calls == []


def test_pool_fallback_set_moves_the_flag_and_is_idempotent(demo):
    rapid = Pool.objects.get(name="Rapid response")
    assert pool_fallback_set(pool=rapid).is_fallback
    assert fallback_pools() == ["Rapid response"]
    pool_fallback_set(pool=rapid)
    assert fallback_pools() == ["Rapid response"]
    Pool.objects.update(is_fallback=False)
    pool_fallback_set(pool=Pool.objects.get(name="Demo"))
    assert fallback_pools() == ["Demo"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_a_fallback_before", [True, False], ids=["juniors-was-fallback", "no-fallback-before"])
def test_two_switches_at_once_leave_one_fallback_pool_the_later_one(demo, with_a_fallback_before):
    if not with_a_fallback_before:
        Pool.objects.update(is_fallback=False)
    demo_pool, rapid = Pool.objects.get(name="Demo"), Pool.objects.get(name="Rapid response")
    first_switched = threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():
                pool_fallback_set(pool=demo_pool)
                first_switched.set()
                time.sleep(0.5)  # still uncommitted while the second switch runs
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            first_switched.set()
            connection.close()

    def second():
        try:
            assert first_switched.wait(timeout=30)
            with transaction.atomic():
                pool_fallback_set(pool=rapid)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert fallback_pools() == ["Rapid response"]
