"""Postal-range overlap: one rule (reps/postal_ranges.py) for the territory admin, the CSV import and the routing document.

A postal code must lead to one owner. In the demo kasia's territory Śląsk holds 40-000-44-999.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import reps.csv_files
import reps.postal_ranges
from flows.routing_setup import routing_config_check, routing_config_export
from reps.models import Pool, PostalRange, Territory
from reps.postal_ranges import OwnedRange, range_conflicts
from reps.selectors import postal_range_conflicts


def conflicts(*ranges: tuple[int, int, str, str]) -> list[tuple[str, str]]:
    return [(a.ref, b.ref) for a, b in range_conflicts([OwnedRange(*r) for r in ranges])]


# ---------------------------------------------------------------------------------------------- the rule


def test_touching_ranges_do_not_overlap():
    assert conflicts((40000, 40999, "kasia", "Katowice"), (41000, 41999, "marek", "Zagłębie")) == []


def test_ranges_sharing_an_end_code_overlap():
    assert conflicts((40000, 41000, "kasia", "Katowice"), (41000, 41999, "marek", "Zagłębie")) == [("Katowice", "Zagłębie")]


def test_the_same_single_code_for_two_owners_overlaps():
    assert conflicts((47100, 47100, "kasia", "A"), (47100, 47100, "marek", "B")) == [("A", "B")]


def test_a_single_code_inside_another_owners_range_overlaps():
    assert conflicts((47000, 47999, "kasia", "Opole"), (47150, 47150, "marek", "Kędzierzyn")) == [("Opole", "Kędzierzyn")]


def test_a_nested_range_overlaps_and_each_pair_is_named_once_earlier_start_first():
    found = conflicts((41000, 41999, "marek", "Zagłębie"), (40000, 44999, "kasia", "Śląsk"))
    assert found == [("Śląsk", "Zagłębie")]


def test_ranges_of_the_same_owner_or_the_same_territory_may_overlap():
    assert conflicts((40000, 44999, "kasia", "Śląsk"), (41000, 41999, "kasia", "Zagłębie")) == []
    assert conflicts((40000, 44999, "kasia", "Śląsk"), (40000, 44999, "kasia", "Śląsk"), (44000, 44100, "kasia", "Śląsk")) == []


def test_at_most_three_earlier_ranges_are_named_against_one_range():
    wide = [(40000 + i, 49999, f"rep {i}", f"T{i}") for i in range(5)]
    found = conflicts(*wide, (45000, 45000, "kasia", "Gliwice"))
    assert [a for a, b in found if b == "Gliwice"] == ["T0", "T1", "T2"]


def test_the_csv_module_re_exports_the_one_definition():
    # flows (the routing-document import) and older code import these from reps.csv_files.
    for name in ["OwnedRange", "range_conflicts", "postal_range_parse", "postal_range_format"]:
        assert getattr(reps.csv_files, name) is getattr(reps.postal_ranges, name), name


# ---------------------------------------------------------------------------------------------- the admin's read


def test_the_admins_check_names_the_other_owners_ranges_a_new_territory_overlaps(marek):
    zaglebie = Territory(name="Zagłębie", owner_rep=marek)
    found = postal_range_conflicts(territory=zaglebie, ranges=[(41200, 41299), (45000, 45999), (44999, 44999), (39000, 39999)])
    assert {i: [str(r) for r in clashes] for i, clashes in found.items()} == {0: ["40-000-44-999"], 2: ["40-000-44-999"]}


def test_the_admins_check_lets_an_owner_overlap_their_own_and_a_territory_replace_its_ranges(kasia):
    assert postal_range_conflicts(territory=Territory(name="Gliwice", owner_rep=kasia), ranges=[(44100, 44199)]) == {}
    slask = Territory.objects.get(name="Śląsk")
    assert postal_range_conflicts(territory=slask, ranges=[(41000, 41999), (40000, 49999)]) == {}


def test_a_pool_and_a_rep_are_different_owners_even_with_the_same_id(kasia):
    pool = Pool.objects.get(name="Demo")
    assert Territory(owner_rep_id=pool.pk).owner_key != Territory(owner_pool_id=pool.pk).owner_key
    assert Territory.objects.get(name="Śląsk").owner_key == ("rep", kasia.pk)


def test_the_admins_check_asks_one_query(marek, django_assert_num_queries):
    with django_assert_num_queries(1):
        postal_range_conflicts(territory=Territory(name="Zagłębie", owner_rep=marek), ranges=[(41200, 41299), (44999, 44999), (47100, 47100)])


# ---------------------------------------------------------------------------------------------- the three checks agree


def admin_refuses(client, *, owner, codes: tuple[int, int]) -> bool:
    data = {"name": "Nowe", "owner_rep": owner.pk, "owner_pool": ""}
    for prefix, total in [("regions", 0), ("cities", 0), ("postal_ranges", 1)]:
        data |= {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    data |= {"postal_ranges-0-start": str(codes[0]), "postal_ranges-0-end": str(codes[1])}
    response = client.post("/admin/reps/territory/add/", data)
    assert response.status_code in (200, 302)
    refused = response.status_code == 200
    assert refused == ("overlaps 40-000-44-999 of the territory “Śląsk”" in response.content.decode())
    Territory.objects.filter(name="Nowe").delete()
    return refused


def csv_refuses(tmp_path, *, owner, codes: tuple[int, int]) -> bool:
    path = tmp_path / "territories.csv"
    path.write_text(f"name,owner,regions,cities,postal_codes\nNowe,{owner.email},,,{reps.postal_ranges.postal_range_format(*codes)}\n")
    try:
        call_command("import_csv", "territories", str(path), "--dry-run", stdout=StringIO(), stderr=StringIO())
    except CommandError:
        return True
    return False


def document_refuses(*, owner, codes: tuple[int, int]) -> bool:
    document = routing_config_export()
    territory = {"name": "Nowe", "owner_rep": owner.email, "owner_pool": None, "regions": [], "cities": []}
    document["territories"].append({**territory, "postal_codes": [reps.postal_ranges.postal_range_format(*codes)]})
    return any("overlap" in problem for problem in routing_config_check(document=document))


@pytest.mark.parametrize(
    ("who", "codes", "refused"),
    [
        ("marek", (45000, 45999), False),  # touching above
        ("marek", (39000, 39999), False),  # touching below
        ("marek", (44999, 44999), True),  # a single code on the edge
        ("marek", (41000, 41999), True),  # nested
        ("marek", (30000, 49999), True),  # around
        ("kasia", (41000, 41999), False),  # the same owner
    ],
)
def test_admin_csv_import_and_routing_document_agree_on_overlaps(demo, client, tmp_path, who, codes, refused):
    client.login(username="manager", password="demo")
    owner = demo[who]
    assert admin_refuses(client, owner=owner, codes=codes) is refused
    assert csv_refuses(tmp_path, owner=owner, codes=codes) is refused
    assert document_refuses(owner=owner, codes=codes) is refused
    assert list(PostalRange.objects.values_list("start", "end")) == [(40000, 44999)]


# ---------------------------------------------------------------------------------------------- the lookup at scale


@pytest.mark.django_db
def test_the_territory_of_a_code_among_20000_ranges_is_found_on_the_span_index(demo, django_assert_max_num_queries):
    """A company with a range per delivery area: 20 000 ranges, one wide one over them all. The lead's code is held by
    the wide range and its own narrow one: the narrow one wins, in one query, and on PostgreSQL the database answers it
    from the GiST index on the span (reps migration 0009), not by reading half the ranges."""
    from django.db import connection

    from reps.models import Rep
    from reps.selectors import _territory_query, territory_for

    owner = Rep.objects.get(user__username="kasia")
    wide = Territory.objects.create(name="Cała Polska", owner_rep=owner)
    PostalRange.objects.create(territory=wide, start=0, end=99_999)
    areas = Territory.objects.bulk_create(Territory(name=f"Obszar {n}", owner_rep=owner) for n in range(20_000))
    PostalRange.objects.bulk_create(PostalRange(territory=area, start=4 * n, end=4 * n + 3) for n, area in enumerate(areas))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE reps_postalrange")  # as autovacuum would have by now in production

    with django_assert_max_num_queries(1):
        found = territory_for(postal_code_num=4 * 12_345 + 2)
    assert found is not None and found.name == "Obszar 12345"
    assert territory_for(postal_code_num=99_000).name == "Cała Polska"  # beyond the areas: only the wide range

    if connection.vendor == "postgresql":
        plan = _territory_query(postal_code_num=49_382, city_key="", region_keys=[]).explain()
        assert "reps_postalrange_span" in plan, plan
