"""core.compiled_sql: a fact query compiled once per shape gives exactly the rows the ORM gives, and a shape it
cannot map is left to the ORM.

Intake's two fact queries (routing.ruleset `_LEAD_FACT_ROWS`, reps.selectors `_TERRITORY_ROWS`) run through it;
on data where every lead's facts are its own (tests/growth_world.py: parent-domain accounts, VIP entries, postal
ranges, cities, regions in every spelling, earlier leads) each compiled answer is compared with the ORM's.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.compiled_sql import CompiledQuery
from reps import selectors as rep_selectors
from reps.models import DomainListEntry, TerritoryCity
from reps.vocabularies import vocabulary_active
from routing.ruleset import _LEAD_FACT_ROWS, _lead_fact_query, lead_facts
from tests.growth_world import grow

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 10, 1, tzinfo=ZoneInfo("Europe/Warsaw"))


def _orm(query) -> list[tuple]:
    return [] if query is None else sorted(tuple(row) for row in query)


def test_compiled_fact_queries_give_the_orms_rows_for_every_kind_of_fact(demo):
    world = grow(tag="c", first=0, reps=6, leads=36, since=SINCE)
    vocabulary = vocabulary_active()
    territory = rep_selectors._TERRITORY_ROWS
    shapes_before = (_LEAD_FACT_ROWS.compilations, territory.compilations)
    seen_kinds: set[str] = set()
    for lead in world.leads + world.earlier:
        candidates, builtins = rep_selectors.domain_fact_terms(lead.email_domain)
        facts_args = {"candidates": candidates, "builtins": builtins, "repeat_key": lead.email_key, "before_id": lead.pk}
        compiled = sorted(_LEAD_FACT_ROWS.rows(**facts_args))
        assert compiled == _orm(_lead_fact_query(**facts_args)), lead.email
        seen_kinds |= {row[0] for row in compiled}

        region_keys = list(vocabulary.region_keys(lead.region_key)) if lead.region_key else []
        place_args = {"postal_code_num": lead.postal_code_num, "city_key": lead.city_key or "", "region_keys": region_keys}
        compiled = sorted(territory.rows(**place_args), key=repr)
        assert compiled == sorted(_orm(rep_selectors._territory_query(**place_args)), key=repr), lead.email
        seen_kinds |= {row[0] for row in compiled}
    assert {"list", "account", "repeat", "postal", "city", "region"} <= seen_kinds  # every kind was really compared

    # A shape compiles once: the same leads again compile nothing new, and they used few shapes, not one per lead.
    shapes = (_LEAD_FACT_ROWS.compilations, territory.compilations)
    for lead in world.leads:
        lead._facts_lookups = None
        lead_facts(lead)
    assert (_LEAD_FACT_ROWS.compilations, territory.compilations) == shapes
    assert shapes[0] - shapes_before[0] <= 12 and shapes[1] - shapes_before[1] <= 12


def test_a_shape_it_cannot_map_is_left_to_the_orm(demo):
    TerritoryCity.objects.all().delete()
    DomainListEntry.objects.all().delete()

    # `contains` turns the value into %value%: the marker cannot be found as it was given, so the ORM answers.
    contains = CompiledQuery(lambda *, text: TerritoryCity.objects.filter(name__contains=text).values_list("name"))
    # An empty list is a shape of its own (the ORM matches nothing for it) and a value given twice stays two values.
    listed = CompiledQuery(lambda *, domains: DomainListEntry.objects.filter(domain__in=domains).order_by("domain").values_list("domain"))

    from reps.models import DomainList, Territory

    territory = Territory.objects.first() or Territory.objects.create(name="T")
    TerritoryCity.objects.create(territory=territory, name="Gliwice", key="gliwice")
    vip = DomainList.objects.create(name="Test list")
    DomainListEntry.objects.create(domain_list=vip, domain="a.example")
    DomainListEntry.objects.create(domain_list=vip, domain="b.example")

    assert contains.rows(text="liwi") == [("Gliwice",)]
    assert contains.rows(text="Zabrze") == []
    assert contains.compilations == 0

    assert listed.rows(domains=["a.example", "b.example"]) == [("a.example",), ("b.example",)]
    assert listed.rows(domains=["b.example", "c.example"]) == [("b.example",)]
    assert listed.rows(domains=[]) == []
    assert listed.rows(domains=["a.example", "a.example"]) == [("a.example",)]
    assert listed.compilations == 1  # two items (a value given twice is the same shape); an empty list has no SQL


def test_beyond_its_shapes_a_query_is_left_to_the_orm(demo, monkeypatch):
    import core.compiled_sql

    monkeypatch.setattr(core.compiled_sql, "MAX_SHAPES", 1)
    listed = CompiledQuery(lambda *, domains: DomainListEntry.objects.filter(domain__in=domains).order_by("domain").values_list("domain"))
    from reps.models import DomainList

    vip = DomainList.objects.create(name="Shapes list")
    DomainListEntry.objects.create(domain_list=vip, domain="x1.example")
    DomainListEntry.objects.create(domain_list=vip, domain="x2.example")
    assert listed.rows(domains=["x1.example"]) == [("x1.example",)]  # the one shape it keeps
    assert listed.rows(domains=["x1.example", "x2.example"]) == [("x1.example",), ("x2.example",)]  # the ORM's answer
    assert listed.compilations == 1 and len(listed._compiled) == 1
