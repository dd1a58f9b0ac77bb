"""`import_csv KIND FILE`: the manager's spreadsheets in, all or nothing, every bad row named by its line."""

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from core.text import fold, format_postal_code
from reps.csv_files import OwnedRange, csv_dataset_read, csv_delimiter_sniff, list_cell_split, postal_range_parse, range_conflicts
from reps.models import Account, AccountDomain, DomainList, DomainListEntry, PoolMembership, PostalRange, Rep, Territory
from reps.resources import TerritoryResource

DATA = Path(__file__).parent / "data"


def run_import(kind: str, path: Path | str, *, dry_run: bool = False) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_csv", kind, str(path), *(["--dry-run"] if dry_run else []), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_import(kind: str, path: Path | str) -> tuple[str, str]:
    """Runs an import that must fail; returns (printed problems, the final message)."""
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_csv", kind, str(path), stdout=StringIO(), stderr=err)
    return err.getvalue(), str(failure.value)


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def territory_state():
    return {
        t.name: (
            t.owner_label,
            sorted((r.name, r.key) for r in t.regions.all()),
            sorted((c.name, c.key) for c in t.cities.all()),
            sorted((p.start, p.end) for p in t.postal_ranges.all()),
        )
        for t in Territory.objects.all()
    }


# ---------------------------------------------------------------------------------------------- pure parsers


def test_postal_range_parses_ranges_and_single_codes():
    assert postal_range_parse("40-000-44-999") == (40000, 44999)
    assert postal_range_parse("47-100") == (47100, 47100)
    assert postal_range_parse(" 40000 - 44999 ") == (40000, 44999)
    assert postal_range_parse("40-000–44-999") == (40000, 44999)  # an en dash, as Word types it


@pytest.mark.parametrize("text", ["4-000", "40-00", "3O-000", "40-000-", "abc", "40-000-44-999-45-000"])
def test_postal_range_rejects_what_is_not_a_code(text):
    with pytest.raises(ValueError, match="not a postal code"):
        postal_range_parse(text)


def test_postal_range_rejects_a_range_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="ends before it starts"):
        postal_range_parse("44-999-40-000")


def test_list_cells_are_trimmed_and_empty_items_dropped():
    assert list_cell_split(" Śląskie ; Opolskie;;") == ["Śląskie", "Opolskie"]
    assert list_cell_split("") == []


def test_range_conflicts_only_between_different_owners():
    ranges = [
        OwnedRange(40000, 44999, "kasia", "Śląsk"),
        OwnedRange(44000, 44100, "kasia", "Śląsk 2"),
        OwnedRange(44900, 45100, "marek", "Opole"),
        OwnedRange(45101, 46000, "ola", "Next"),
    ]
    assert [(a.ref, b.ref) for a, b in range_conflicts(ranges)] == [("Śląsk", "Opole")]


def test_delimiter_is_sniffed_from_the_header_line():
    assert csv_delimiter_sniff("name;owner;regions\nŚląsk;a@b.pl;x,y\n") == ";"
    assert csv_delimiter_sniff('name,owner,"a;b"\n') == ","
    assert csv_delimiter_sniff("list\tdomain\n") == "\t"


# ---------------------------------------------------------------------------------------------- territories


def test_territories_good_file_creates_and_updates_with_keys_and_postal_numbers(kasia):
    out, err = run_import("territories", DATA / "territories_good.csv")

    assert err == ""
    assert "2 new, 1 updated" in out
    state = territory_state()
    assert state["Śląsk"] == ("Kasia Nowak", [("Śląskie", "slaskie")], [("Gliwice", "gliwice"), ("Katowice", "katowice")], [(40000, 44999)])
    assert state["Małopolska"] == ("Demo", [("Małopolskie", "malopolskie")], [("Kraków", "krakow"), ("Tarnów", "tarnow")], [(30000, 34999), (38300, 38300)])
    assert state["Pomorze"][0] == "Marek Zieliński"
    assert Territory.objects.get(name="Małopolska").owner_pool.name == "Demo"


def test_the_same_file_twice_changes_nothing_the_second_time(demo):
    run_import("territories", DATA / "territories_good.csv")
    before = territory_state()
    ids = sorted(PostalRange.objects.values_list("id", flat=True))

    out, _err = run_import("territories", DATA / "territories_good.csv")

    assert "0 new, 0 updated, 3 unchanged" in out
    assert territory_state() == before
    assert sorted(PostalRange.objects.values_list("id", flat=True)) == ids  # unchanged rows are not rewritten


def test_three_bad_rows_are_each_reported_with_their_line_and_nothing_is_saved(demo):
    before = territory_state()

    problems, message = failing_import("territories", DATA / "territories_three_bad_rows.csv")

    lines = problems.strip().splitlines()
    assert len(lines) == 3, problems
    assert lines[0].startswith("Line 3, owner: “nikt@techpol.example” is neither a rep's e-mail nor a pool's name")
    assert lines[1].startswith("Line 4, postal_codes: “35-000-3O-999” is not a postal code")
    assert lines[2].startswith("Line 5, postal_codes: 41-000-41-999 overlaps 40-000-44-999 of territory “Śląsk”, which belongs to kasia@techpol.example")
    assert "3 row(s)" in message
    assert "Traceback" not in problems
    assert territory_state() == before  # Małopolska and Lubelszczyzna (good rows) were not saved either


def test_overlap_within_the_file_names_the_earlier_line(demo, tmp_path):
    path = write(
        tmp_path,
        "name,owner,regions,cities,postal_codes\nA,Demo,,,50-000-52-999\nB,Juniors,,,52-500-53-000\nC,Demo,,,50-100\n",
    )
    problems, _message = failing_import("territories", path)
    assert problems.strip() == "Line 3, postal_codes: 52-500-53-000 overlaps 50-000-52-999 of territory “A” on line 2, which belongs to Demo."


def test_overlap_with_the_same_owner_is_allowed(kasia, tmp_path):
    path = write(tmp_path, "name,owner,regions,cities,postal_codes\nGliwice,kasia@techpol.example,,Gliwice,44-100-44-199\n")
    out, _err = run_import("territories", path)
    assert "1 new" in out


def test_a_territory_moving_its_range_to_another_owner_is_fine_when_the_file_moves_both(kasia, tmp_path):
    path = write(
        tmp_path,
        "name,owner,regions,cities,postal_codes\nŚląsk,kasia@techpol.example,Śląskie,,40-000-42-999\nZagłębie,marek@techpol.example,,,43-000-44-999\n",
    )
    run_import("territories", path)
    assert territory_state()["Zagłębie"][3] == [(43000, 44999)]
    assert territory_state()["Śląsk"][3] == [(40000, 42999)]


@pytest.mark.parametrize(
    "row, column, message",
    [
        (",Demo,,,", "name", "A territory needs a name."),
        ("X,,,,", "owner", "A territory needs an owner"),
        ("X,Nobody pool,,,", "owner", "“Nobody pool” is neither a rep's e-mail nor a pool's name."),
        ("X,Demo,,,44-999-40-000", "postal_codes", "The range “44-999-40-000” ends before it starts."),
        ("X,Demo,,," + "A" * 101, "postal_codes", "is not a postal code"),
        ("X,Demo," + "R" * 101 + ",,", "regions", "At most 100 characters"),
        ("Śląsk,Demo,,,", None, None),  # a valid row: the owner changes to the pool
    ],
)
def test_each_kind_of_bad_territory_row_is_reported(demo, tmp_path, row, column, message):
    path = write(tmp_path, "name,owner,regions,cities,postal_codes\n" + row + "\n")
    if column is None:
        run_import("territories", path)
        return
    problems, _message = failing_import("territories", path)
    assert problems.startswith(f"Line 2, {column}: ")
    assert message in problems


def test_a_territory_twice_in_the_file_is_reported_on_the_second_line(demo, tmp_path):
    path = write(tmp_path, "name,owner,regions,cities,postal_codes\nX,Demo,,,\n\nX,Juniors,,,\n")
    problems, _message = failing_import("territories", path)
    assert problems.strip() == "Line 4, name: The territory “X” is already on line 2."


def test_a_wrong_header_is_reported_without_a_traceback(demo, tmp_path):
    path = write(tmp_path, "name,owner,region,cities,postal_codes\nX,Demo,,,\n")
    problems, message = failing_import("territories", path)
    assert "no column “regions”" in problems
    assert "unknown columns “region”" in problems
    assert "Line 1 must be: name,owner,regions,cities,postal_codes" in problems
    assert "Traceback" not in problems + message


def test_an_unquoted_list_in_a_semicolon_file_is_reported(demo, tmp_path):
    path = write(tmp_path, "name;owner;regions;cities;postal_codes\nX;Demo;;;50-000;51-000\n")
    problems, _message = failing_import("territories", path)
    assert "Line 2: This line has 6 cells but the header has 5" in problems


BASE = "name,owner,regions,cities,postal_codes\nŁódzkie,ola@techpol.example,Łódzkie,Łódź;Piotrków Trybunalski,90-000-99-999\n"


@pytest.mark.parametrize(
    "encoding, separator",
    [("utf-8", ","), ("utf-8-sig", ","), ("utf-8", ";"), ("utf-8-sig", ";"), ("cp1250", ";"), ("cp1250", ","), ("utf-16", "\t")],
)
def test_files_as_polish_offices_save_them_are_read(demo, tmp_path, encoding, separator):
    text = BASE
    if separator != ",":
        # A spreadsheet quotes the cells that hold the separator.
        text = f'name{separator}owner{separator}regions{separator}cities{separator}postal_codes\nŁódzkie{separator}ola@techpol.example{separator}Łódzkie{separator}"Łódź;Piotrków Trybunalski"{separator}90-000-99-999\n'
    text = text.replace("\n", "\r\n")
    run_import("territories", write(tmp_path, text, encoding=encoding))
    assert territory_state()["Łódzkie"] == (
        "Ola Wójcik",
        [("Łódzkie", "lodzkie")],
        [("Piotrków Trybunalski", "piotrkow trybunalski"), ("Łódź", "lodz")],
        [(90000, 99999)],
    )


def test_dry_run_reports_and_saves_nothing(demo):
    out, _err = run_import("territories", DATA / "territories_good.csv", dry_run=True)
    assert "2 new, 1 updated" in out and "Dry run" in out
    assert not Territory.objects.filter(name="Małopolska").exists()


def test_an_unreadable_or_empty_file_is_a_clear_error(demo, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_csv", "territories", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="The file is empty"):
        call_command("import_csv", "territories", str(write(tmp_path, "  \r\n")))


def test_blank_lines_keep_the_line_numbers_of_a_spreadsheet(demo, tmp_path):
    path = write(tmp_path, "name,owner,regions,cities,postal_codes\n\nX,Demo,,,\n,,,,\nY,nobody,,,\n")
    problems, _message = failing_import("territories", path)
    assert problems.startswith("Line 5, owner:")


def test_the_resource_reads_the_database_a_bounded_number_of_times(demo, django_assert_max_num_queries):
    """No query per row: 300 rows cost the same handful of queries as 3."""
    rows = "".join(f"T{i},Demo,Region {i},City {i},{format_postal_code(50000 + i * 10)}-{format_postal_code(50000 + i * 10 + 9)}\n" for i in range(300))
    dataset = csv_dataset_read(("name,owner,regions,cities,postal_codes\n" + rows).encode())
    with django_assert_max_num_queries(25):
        result = TerritoryResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert Territory.objects.filter(name__startswith="T").count() == 300


# ---------------------------------------------------------------------------------------------- reps


def test_reps_good_file_creates_user_and_rep_and_updates_pools(demo):
    out, _err = run_import("reps", DATA / "reps_good.csv")

    assert "1 new, 1 updated" in out
    zosia = Rep.objects.get(email="zosia@techpol.example")
    assert (zosia.name, zosia.phone, zosia.weight, zosia.daily_cap, zosia.languages) == ("Zosia Mazur", "+48 600 200 001", 2, 30, "pl,en")
    assert zosia.user.username == "zosia" and not zosia.user.is_staff and not zosia.user.has_usable_password()
    demo_pool = list(PoolMembership.objects.filter(pool__name="Demo").values_list("rep__user__username", flat=True))
    assert demo_pool == ["kasia", "ola", "zosia"]  # marek left Demo; zosia joined at the end
    assert list(PoolMembership.objects.filter(pool__name="Juniors").values_list("rep__user__username", flat=True)) == ["marek", "ola", "zosia"]
    assert Rep.objects.get(user__username="marek").languages == "pl"


def test_an_existing_user_without_a_rep_becomes_a_rep_and_keeps_their_staff_flag(demo, tmp_path):
    path = write(tmp_path, "username,name,email,phone,pools,weight,daily_cap,languages\nmanager,Magda Manager,magda@techpol.example,,,1,,pl\n")
    run_import("reps", path)
    rep = Rep.objects.get(user__username="manager")
    assert rep.email == "magda@techpol.example" and rep.user.is_staff  # the import never touches the user's rights


@pytest.mark.parametrize(
    "row, column, message",
    [
        ("nowy,Nowy,not-an-email,,,1,,pl", "email", "is not a valid e-mail address"),
        ("nowy,Nowy,nowy@techpol.example,,,1,-5,pl", "daily_cap", "“-5” is not a whole number from 0"),
        ("nowy,Nowy,nowy@techpol.example,,,abc,,pl", "weight", "“abc” is not a whole number"),
        ("nowy,Nowy,nowy@techpol.example,,,1,,polski", "languages", "“polski” is not a two-letter language code"),
        ("nowy,Nowy,kasia@techpol.example,,,1,,pl", "email", "is already the e-mail of the rep kasia"),
        ("no wy,Nowy,nowy@techpol.example,,,1,,pl", "username", "is not a valid username"),
        ("nowy,,nowy@techpol.example,,,1,,pl", "name", "A rep needs a name."),
    ],
)
def test_each_kind_of_bad_rep_row_is_reported(demo, tmp_path, row, column, message):
    path = write(tmp_path, "username,name,email,phone,pools,weight,daily_cap,languages\n" + row + "\n")
    problems, _message = failing_import("reps", path)
    assert problems.startswith(f"Line 2, {column}: "), problems
    assert message in problems
    assert not get_user_model().objects.filter(username="nowy").exists()


def test_a_pool_the_database_lacks_is_created_and_named_in_the_summary(demo, tmp_path):
    path = write(tmp_path, "username,name,email,phone,pools,weight,daily_cap,languages\nnowy,Nowy Rep,nowy@techpol.example,,Seniors;Demo,1,,pl\n")
    out, _err = run_import("reps", path)
    assert "New pools: Seniors." in out
    assert sorted(PoolMembership.objects.filter(rep__email="nowy@techpol.example").values_list("pool__name", "position")) == [("Demo", 3), ("Seniors", 0)]


def test_columns_left_out_of_a_reps_file_keep_their_values(demo, tmp_path):
    run_import("reps", write(tmp_path, "username,name,email\nmarek,Marek Z.,marek@techpol.example\n"))
    marek = Rep.objects.get(user__username="marek")
    assert marek.name == "Marek Z." and marek.languages == "pl,en" and marek.phone == "+48 600 100 003"
    assert sorted(marek.memberships.values_list("pool__name", flat=True)) == ["Demo", "Juniors"]


def test_rep_emails_swapped_in_the_file_are_not_reported_as_duplicates_of_themselves(demo, tmp_path):
    path = write(tmp_path, "username,name,email\nkasia,Kasia Nowak,KASIA@techpol.example\n")
    run_import("reps", path)
    assert Rep.objects.get(user__username="kasia").email == "KASIA@techpol.example"


# ---------------------------------------------------------------------------------------------- accounts


def test_accounts_good_file(demo):
    out, _err = run_import("accounts", DATA / "accounts_good.csv")
    assert "1 new, 1 updated" in out
    assert sorted(AccountDomain.objects.filter(account__name="Huta Stal S.A.").values_list("domain", flat=True)) == [
        "hutastal-group.example",
        "hutastal.example",
    ]
    assert Account.objects.get(name="MegaSklep sp. z o.o.").manager.user.username == "kasia"


@pytest.mark.parametrize(
    "rows, message",
    [
        ("Nowa,hutastal.example,kasia@techpol.example", "Line 2, domains: The domain hutastal.example already belongs to the account “Huta Stal S.A.”."),
        ("A,a.example,kasia@techpol.example\nB,A.example,kasia@techpol.example", "Line 3, domains: The domain a.example is already listed for “A” on line 2."),
        ("A,a.example,nikt@techpol.example", "Line 2, manager: No rep has the e-mail “nikt@techpol.example”."),
        ("A,not a domain,kasia@techpol.example", "Line 2, domains: “not a domain” is not a domain such as firma.pl."),
    ],
)
def test_each_kind_of_bad_account_row_is_reported(demo, tmp_path, rows, message):
    problems, _message = failing_import("accounts", write(tmp_path, "name,domains,manager\n" + rows + "\n"))
    assert problems.strip() == message


def test_a_domain_can_move_between_accounts_listed_in_the_same_file(demo, tmp_path):
    path = write(tmp_path, "name,domains,manager\nHuta Stal S.A.,,tomek@techpol.example\nStal Holding,hutastal.example,tomek@techpol.example\n")
    run_import("accounts", path)
    assert AccountDomain.objects.get(domain="hutastal.example").account.name == "Stal Holding"


# ---------------------------------------------------------------------------------------------- domains


def test_domains_good_file_adds_to_lists_and_creates_unknown_lists_as_custom(demo):
    out, _err = run_import("domains", DATA / "domains_good.csv")
    assert "2 new, 0 updated, 1 unchanged" in out
    assert "Konkurencja" in out
    assert DomainList.objects.get(name="Konkurencja").kind == DomainList.Kind.CUSTOM
    assert DomainListEntry.objects.filter(domain_list__name="VIP", domain="nowybank.example").exists()
    assert DomainListEntry.objects.filter(domain_list__name="VIP").count() == 3  # nothing removed


@pytest.mark.parametrize(
    "rows, message",
    [
        ("VIP,x.example\nvip,X.example", "Line 3, domain: The domain x.example is already on line 2 for the list “vip”."),
        ("VIP,not_a domain", "Line 2, domain: “not_a domain” is not a domain such as firma.pl."),
        (",x.example", "Line 2, list: Say which list the domain goes on (e.g. VIP or Free mail)."),
    ],
)
def test_each_kind_of_bad_domain_row_is_reported(demo, tmp_path, rows, message):
    problems, _message = failing_import("domains", write(tmp_path, "list,domain\n" + rows + "\n"))
    assert problems.strip() == message
    assert not DomainListEntry.objects.filter(domain="x.example").exists()


def test_region_keys_match_the_way_leads_are_normalised(demo):
    run_import("territories", DATA / "territories_good.csv")
    assert Territory.objects.get(name="Małopolska").regions.get().key == fold("MAŁOPOLSKIE ")


# ---------------------------------------------------------------------------------------------- the admin


@pytest.fixture
def manager_client(demo, client):
    client.login(username="manager", password="demo")
    return client


def admin_upload(client, path: Path, url: str):
    with open(path, "rb") as f:
        return client.post(url, {"import_file": f, "format": "0"})


def test_every_reps_admin_page_opens_for_the_sales_manager(manager_client, kasia):
    for name in ["rep", "absence", "pool", "territory", "account", "domainlist"]:
        assert manager_client.get(f"/admin/reps/{name}/").status_code == 200, name
        assert manager_client.get(f"/admin/reps/{name}/add/").status_code == 200, name
    for name, obj in [("rep", kasia), ("territory", Territory.objects.get()), ("pool", kasia.memberships.first().pool)]:
        assert manager_client.get(f"/admin/reps/{name}/{obj.pk}/change/").status_code == 200, name


def test_admin_import_previews_then_imports_on_confirm(manager_client):
    response = admin_upload(manager_client, DATA / "territories_good.csv", "/admin/reps/territory/import/")
    assert response.status_code == 200
    result = response.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.valid_rows()] == ["update", "new", "new"]
    assert "Katowice" in "".join(result.valid_rows()[0].diff)  # the diff shows the cities Śląsk gains
    assert not Territory.objects.filter(name="Małopolska").exists()  # the preview saved nothing

    confirm = response.context["confirm_form"]
    response = manager_client.post("/admin/reps/territory/process_import/", {**confirm.initial})
    assert response.status_code == 302
    assert Territory.objects.get(name="Małopolska").owner_pool.name == "Demo"


def test_admin_import_lists_every_bad_row_by_line_and_offers_no_confirm(manager_client):
    response = admin_upload(manager_client, DATA / "territories_three_bad_rows.csv", "/admin/reps/territory/import/")
    result = response.context["result"]
    assert [row.number for row in result.invalid_rows] == [3, 4, 5]
    assert "confirm_form" not in response.context
    assert "nikt@techpol.example" in response.content.decode()
    assert not Territory.objects.filter(name="Małopolska").exists()


def test_admin_import_of_a_wrong_header_shows_no_traceback(manager_client, tmp_path):
    path = write(tmp_path, "name,owner\nX,Demo\n")
    page = admin_upload(manager_client, path, "/admin/reps/territory/import/").content.decode()
    assert "no column" in page and "Traceback" not in page


def test_admin_export_is_the_commands_csv(manager_client, tmp_path):
    columns = ["name", "owner", "regions", "cities", "postal_codes"]
    response = manager_client.post("/admin/reps/territory/export/", {"format": "0", "resource": "0", **{f"territoryresource_{c}": "on" for c in columns}})
    if response.status_code != 200 or not response.content.startswith(b"\xef\xbb\xbf"):
        pytest.fail(f"export failed: {response.status_code} {response.content[:300]!r}")
    call_command("export_csv", "territories", str(tmp_path / "t.csv"), stdout=StringIO())
    assert response.content == (tmp_path / "t.csv").read_bytes()


def test_admin_territory_form_fills_keys_and_accepts_postal_codes_as_typed(manager_client, marek):
    data = {
        "name": "Opolszczyzna",
        "owner_rep": marek.pk,
        "owner_pool": "",
        **inline_management("regions", 1),
        "regions-0-name": "OPOLSKIE",
        **inline_management("cities", 0),
        **inline_management("postal_ranges", 1),
        "postal_ranges-0-start": "45-000",
        "postal_ranges-0-end": "",
    }
    response = manager_client.post("/admin/reps/territory/add/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    territory = Territory.objects.get(name="Opolszczyzna")
    assert territory.regions.get().key == "opolskie"
    assert list(territory.postal_ranges.values_list("start", "end")) == [(45000, 45000)]


def test_admin_territory_form_refuses_a_range_of_another_owner(manager_client, marek):
    data = {
        "name": "Zagłębie",
        "owner_rep": marek.pk,
        "owner_pool": "",
        **inline_management("regions", 0),
        **inline_management("cities", 0),
        **inline_management("postal_ranges", 1),
        "postal_ranges-0-start": "41-200",
        "postal_ranges-0-end": "41-299",
    }
    response = manager_client.post("/admin/reps/territory/add/", data)
    assert response.status_code == 200
    assert "overlaps 40-000-44-999 of the territory “Śląsk”" in response.content.decode()
    assert not Territory.objects.filter(name="Zagłębie").exists()


def inline_management(prefix: str, total: int) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_admin_confirm_saves_nothing_when_the_data_changed_since_the_preview(manager_client, kasia):
    response = admin_upload(manager_client, DATA / "accounts_good.csv", "/admin/reps/account/import/")
    confirm = response.context["confirm_form"]
    Rep.objects.filter(pk=kasia.pk).update(email="kasia.nowak@techpol.example")  # MegaSklep's manager no longer matches

    response = manager_client.post("/admin/reps/account/process_import/", {**confirm.initial}, follow=True)

    shown = [str(m) for m in response.context["messages"]]
    assert "Line 3, manager: No rep has the e-mail “kasia@techpol.example”." in shown
    assert not Account.objects.filter(name="MegaSklep sp. z o.o.").exists()
    assert AccountDomain.objects.filter(account__name="Huta Stal S.A.").count() == 1  # the good row was not saved either


def test_admin_domain_list_export_writes_the_domains_of_the_lists(manager_client):
    response = manager_client.post(
        "/admin/reps/domainlist/export/", {"format": "0", "resource": "0", "domainresource_list": "on", "domainresource_domain": "on"}
    )
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "list,domain" and "VIP,bigbank.example" in lines and "Free mail,gmail.com" in lines
