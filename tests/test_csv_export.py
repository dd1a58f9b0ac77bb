"""`export_csv KIND FILE`: the columns import_csv reads, and a round trip that changes nothing."""

import csv
import io
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from reps.models import Account, AccountDomain, DomainListEntry, PoolMembership, Rep, Territory

DATA = Path(__file__).parent / "data"


def export(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.csv"
    call_command("export_csv", kind, str(path), stdout=StringIO())
    return path


def rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to show Polish letters
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_territories_export_in_the_contract_columns(demo, tmp_path):
    call_command("import_csv", "territories", str(DATA / "territories_good.csv"), stdout=StringIO())
    table = rows(export("territories", tmp_path))
    assert table[0] == ["name", "owner", "regions", "cities", "postal_codes"]
    assert ["Małopolska", "Demo", "Małopolskie", "Kraków;Tarnów", "30-000-34-999;38-300"] in table
    assert ["Śląsk", "kasia@techpol.example", "Śląskie", "Katowice;Gliwice", "40-000-44-999"] in table


def test_reps_export(demo, tmp_path):
    table = rows(export("reps", tmp_path))
    assert table[0] == ["username", "name", "email", "phone", "pools", "weight", "daily_cap", "languages"]
    assert ["marek", "Marek Zieliński", "marek@techpol.example", "+48 600 100 003", "Demo;Juniors", "1", "", "pl;en"] in table


def test_accounts_and_domains_export(demo, tmp_path):
    assert rows(export("accounts", tmp_path)) == [["name", "domains", "manager"], ["Huta Stal S.A.", "hutastal.example", "tomek@techpol.example"]]
    table = rows(export("domains", tmp_path))
    assert table[0] == ["list", "domain"]
    assert ["VIP", "bigbank.example"] in table and ["Free mail", "gmail.com"] in table


def snapshot():
    return {
        "territories": sorted(
            (
                t.name,
                t.owner_rep_id,
                t.owner_pool_id,
                sorted(t.regions.values_list("name", "key")),
                sorted(t.cities.values_list("name", "key")),
                sorted(t.postal_ranges.values_list("start", "end")),
            )
            for t in Territory.objects.all()
        ),
        "reps": sorted(Rep.objects.values_list("user__username", "name", "email", "phone", "weight", "daily_cap", "languages")),
        "memberships": sorted(PoolMembership.objects.values_list("pool__name", "rep__email", "position")),
        "accounts": sorted(AccountDomain.objects.values_list("account__name", "account__manager__email", "domain")),
        "domains": sorted(DomainListEntry.objects.values_list("domain_list__name", "domain_list__kind", "domain")),
    }


@pytest.mark.parametrize("kind", ["territories", "reps", "accounts", "domains"])
def test_export_then_import_round_trips_unchanged(demo, tmp_path, kind):
    for extra in ["territories_good.csv", "reps_good.csv", "accounts_good.csv", "domains_good.csv"]:
        call_command("import_csv", extra.split("_")[0], str(DATA / extra), stdout=StringIO())
    before = snapshot()
    first = export(kind, tmp_path)

    out = StringIO()
    call_command("import_csv", kind, str(first), stdout=out)

    assert " 0 new, 0 updated," in out.getvalue()
    assert snapshot() == before
    second = tmp_path / "again.csv"
    call_command("export_csv", kind, str(second), stdout=StringIO())
    assert second.read_bytes() == first.read_bytes()


def test_an_export_imports_into_an_empty_database(demo, tmp_path):
    """Staging to production: reps first, then what refers to them."""
    call_command("import_csv", "territories", str(DATA / "territories_good.csv"), stdout=StringIO())
    files = {kind: export(kind, tmp_path) for kind in ["reps", "territories", "accounts", "domains"]}
    before = snapshot()
    Territory.objects.all().delete()
    AccountDomain.objects.all().delete()
    DomainListEntry.objects.all().delete()
    Account.objects.all().delete()
    for kind in ["reps", "territories", "accounts", "domains"]:
        call_command("import_csv", kind, str(files[kind]), stdout=StringIO())
    after = snapshot()
    # Primary keys of the new territories differ; everything a manager sees is the same.
    assert [t[:1] + t[3:] for t in after["territories"]] == [t[:1] + t[3:] for t in before["territories"]]
    assert after["accounts"] == before["accounts"] and after["domains"] == before["domains"]
