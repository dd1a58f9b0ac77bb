"""Pools: round robin in membership order, weights, daily caps, unavailable reps and the fallback owner."""

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reps.models import Pool, PoolMembership, Rep, RepDayLoad
from reps.selectors import on_duty_rep, rep_is_available
from reps.services import absence_add, absence_delete, pool_pick_rep, rep_status_set

WARSAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)


@pytest.fixture
def demo_pool(demo):
    return Pool.objects.get(name="Demo")


@pytest.fixture
def juniors(demo):
    return Pool.objects.get(name="Juniors")


def picks(pool, n, now=NOW, **kw):
    return [pool_pick_rep(pool=pool, now=now, **kw)[0] for _ in range(n)]


def test_plain_round_robin_in_membership_order(demo_pool, kasia, marek, ola):
    assert picks(demo_pool, 7) == [kasia, marek, ola, kasia, marek, ola, kasia]


def test_rotation_state_is_kept_on_the_pool(demo_pool, kasia):
    pool_pick_rep(pool=demo_pool, now=NOW)
    demo_pool.refresh_from_db()
    assert demo_pool.rotation["last_rep_id"] == kasia.pk


def test_weighted_pool_gives_a_double_weight_rep_twice_the_leads_interleaved(demo_pool, kasia, marek, ola):
    """Smooth weighted round robin: weights 2:1:1 give k, m, o, k per cycle, not k, k, m, o."""
    PoolMembership.objects.filter(pool=demo_pool, rep=kasia).update(weight=2)
    chosen = picks(demo_pool, 8)
    assert Counter(chosen) == {kasia: 4, marek: 2, ola: 2}
    assert chosen == [kasia, marek, ola, kasia] * 2


def test_the_reps_own_weight_applies_when_the_membership_has_none(juniors, marek, ola):
    Rep.objects.filter(pk=ola.pk).update(weight=3)
    assert Counter(picks(juniors, 8)) == {ola: 6, marek: 2}


def test_daily_cap_skips_a_capped_rep_and_says_so(juniors, marek, ola):
    Rep.objects.filter(pk=marek.pk).update(daily_cap=1)
    assert picks(juniors, 2) == [marek, ola]
    rep, lines = pool_pick_rep(pool=juniors, now=NOW)
    assert rep == ola
    assert "Juniors: Marek Zieliński skipped: reached the daily cap of 1" in lines
    assert RepDayLoad.objects.get(rep=marek, day=NOW.date()).assigned == 1


def test_all_capped_goes_to_the_pools_fallback_owner(juniors, marek, ola, anna):
    Rep.objects.filter(pk__in=[marek.pk, ola.pk]).update(daily_cap=1)
    juniors.fallback_rep = anna
    juniors.save()
    assert picks(juniors, 2) == [marek, ola]
    rep, lines = pool_pick_rep(pool=juniors, now=NOW)
    assert rep == anna
    assert lines[-1] == "Juniors: the lead goes to the pool's fallback owner Anna Kowalczyk"


def test_all_capped_without_a_fallback_owner_gives_nobody(juniors, marek, ola):
    Rep.objects.filter(pk__in=[marek.pk, ola.pk]).update(daily_cap=0)
    rep, lines = pool_pick_rep(pool=juniors, now=NOW)
    assert rep is None
    assert lines[-1] == "Juniors: nobody in the pool can take the lead"


def test_cap_counts_per_local_day(juniors, marek, ola):
    Rep.objects.filter(pk__in=[marek.pk, ola.pk]).update(daily_cap=1)
    late_evening = datetime(2026, 11, 17, 23, 30, tzinfo=WARSAW)
    assert picks(juniors, 3, now=late_evening) == [marek, ola, None]
    # 00:30 in Warsaw is still the 17th in UTC, but a new working day here.
    assert pool_pick_rep(pool=juniors, now=late_evening + timedelta(hours=1))[0] is not None


def test_a_cap_is_shared_between_pools(demo_pool, juniors, kasia, marek, ola):
    Rep.objects.filter(pk=marek.pk).update(daily_cap=1)
    assert picks(juniors, 1) == [marek]
    assert picks(demo_pool, 3) == [kasia, ola, kasia]


def test_away_and_in_meeting_reps_are_skipped_with_a_reason(demo_pool, kasia, marek, ola):
    rep_status_set(rep=kasia, status=Rep.Status.AWAY)
    rep_status_set(rep=marek, status=Rep.Status.IN_MEETING)
    rep, lines = pool_pick_rep(pool=demo_pool, now=NOW)
    assert rep == ola
    assert lines == ["Demo: Kasia Nowak skipped: away", "Demo: Marek Zieliński skipped: in a meeting", "Demo: Ola Wójcik is next in turn"]


def test_out_of_office_rep_is_skipped_on_those_days_only(juniors, marek, ola):
    absence = absence_add(rep=marek, starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 17), reason="urlop")
    rep, lines = pool_pick_rep(pool=juniors, now=NOW)
    assert rep == ola
    assert "Juniors: Marek Zieliński skipped: out of office until 2026-11-17 (urlop)" in lines
    assert pool_pick_rep(pool=juniors, now=NOW + timedelta(days=1))[0] == marek
    absence_delete(absence=absence)
    assert rep_is_available(rep=marek, on=NOW.date()) == (True, "")


def test_a_rep_back_from_away_rejoins_the_rotation_without_a_backlog(demo_pool, kasia, marek, ola):
    """Skipped turns are not owed: the returning rep is not flooded with catch-up leads."""
    rep_status_set(rep=marek, status=Rep.Status.AWAY)
    assert picks(demo_pool, 2) == [kasia, ola]
    rep_status_set(rep=marek, status=Rep.Status.AVAILABLE)
    assert picks(demo_pool, 6) == [kasia, marek, ola] * 2


def test_exclude_skips_the_current_owner(demo_pool, kasia, marek):
    rep, lines = pool_pick_rep(pool=demo_pool, now=NOW, exclude=frozenset({kasia.pk}))
    assert rep == marek
    assert "Demo: Kasia Nowak skipped: already had this lead" in lines


def test_unavailable_fallback_owner_gives_nobody(juniors, marek, ola, anna):
    juniors.fallback_rep = anna
    juniors.save()
    for rep in (marek, ola, anna):
        rep_status_set(rep=rep, status=Rep.Status.AWAY)
    rep, lines = pool_pick_rep(pool=juniors, now=NOW)
    assert rep is None
    assert lines[-1] == "Juniors: fallback owner Anna Kowalczyk skipped: away"


def test_preview_gives_the_same_answer_and_writes_nothing(demo_pool, kasia, marek):
    assert pool_pick_rep(pool=demo_pool, now=NOW, preview=True)[0] == kasia
    assert pool_pick_rep(pool=demo_pool, now=NOW, preview=True)[0] == kasia
    demo_pool.refresh_from_db()
    assert demo_pool.rotation == {}
    assert not RepDayLoad.objects.exists()
    assert picks(demo_pool, 1) == [kasia]
    assert pool_pick_rep(pool=demo_pool, now=NOW, preview=True)[0] == marek


def test_inactive_rep_is_skipped(juniors, marek, ola):
    Rep.objects.filter(pk=marek.pk).update(is_active=False)
    assert picks(juniors, 2) == [ola, ola]


def test_empty_pool_gives_nobody(db):
    pool = Pool.objects.create(name="Empty")
    assert pool_pick_rep(pool=pool, now=NOW) == (None, ["Empty has no members"])


def test_on_duty_rep_follows_the_rota_and_overrides(demo):
    from reps.models import OnDutyOverride

    assert on_duty_rep(on=date(2026, 11, 16)) == demo["kasia"]  # Monday
    assert on_duty_rep(on=date(2026, 11, 17)) == demo["marek"]  # Tuesday
    assert on_duty_rep(on=date(2026, 11, 21)) is None  # Saturday
    OnDutyOverride.objects.create(date=date(2026, 11, 17), rep=demo["ola"])
    assert on_duty_rep(on=date(2026, 11, 17)) == demo["ola"]


def test_rep_status_set_refuses_an_unknown_status(kasia):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        rep_status_set(rep=kasia, status="on_holiday")
