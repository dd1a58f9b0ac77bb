"""E-mail domains are IDNA-normalised (UTS #46, non-transitional) before any matching (issue 13).

A lookalike spelling of a free-mail or VIP domain (fullwidth letters, a zero-width space, a soft hyphen)
matches the lists; a domain that is no valid internationalised name is refused with a clear 400.
Stored form: Unicode (U-label) and lower-case, "żabka.pl"; e-mail is sent to the A-label.
"""

import json

import pytest

from core.text import ascii_domain, email_domain, idna_domain
from reps.csv_files import domain_normalise
from reps.models import DomainList, DomainListEntry
from reps.selectors import domain_lists_for
from routing.models import Lead

URL = "/api/v1/leads/"


def post(client, body):
    return client.post(URL, data=json.dumps(body, ensure_ascii=False), content_type="application/json; charset=utf-8")


@pytest.mark.parametrize(
    "written, normalised",
    [
        ("gmail.com", "gmail.com"),
        ("GMAIL.COM", "gmail.com"),
        ("ｇｍａｉｌ.com", "gmail.com"),  # fullwidth letters
        ("gm\u200bail.com", "gmail.com"),  # zero-width space
        ("gm\u00adail.com", "gmail.com"),  # soft hyphen
        ("gmail。com", "gmail.com"),  # ideographic full stop
        ("gmail.com.", "gmail.com"),
        ("ŻABKA.pl", "żabka.pl"),
        ("xn--abka-99a.pl", "żabka.pl"),
        ("straße.de", "straße.de"),  # non-transitional: not "strasse.de"
        ("[192.0.2.1]", "[192.0.2.1]"),
    ],
)
def test_idna_domain_normalises_per_uts46(written, normalised):
    assert idna_domain(written) == normalised
    assert email_domain(f"jan@{written}") == normalised


@pytest.mark.parametrize("written", ["a\u200db.com", "ex..com", "-firma.pl", "fir ma.pl", "gmail\u2024com", "a" * 64 + ".pl"])
def test_idna_domain_refuses_what_is_no_host_name(written):
    with pytest.raises(ValueError):
        idna_domain(written)


def test_ascii_domain_is_the_a_label():
    assert ascii_domain("żabka.pl") == "xn--abka-99a.pl"
    assert ascii_domain("straße.de") == "xn--strae-oqa.de"
    assert ascii_domain("gmail.com") == "gmail.com"


@pytest.mark.django_db
class TestIntake:
    @pytest.mark.parametrize("domain", ["ｇｍａｉｌ.com", "gm\u200bail.com", "gm\u00adail.com", "GMail.com"])
    def test_a_lookalike_free_mail_domain_is_disqualified_like_gmail(self, api, demo, domain):
        response = post(api, {"email": f"jan.kowalski@{domain}"})
        assert response.status_code == 201, response.content
        assert response.json()["rule"]["name"].startswith("Free-mail")
        lead = Lead.objects.get()
        assert (lead.email, lead.email_domain, lead.status) == ("jan.kowalski@gmail.com", "gmail.com", Lead.Status.DISQUALIFIED)

    @pytest.mark.parametrize("domain", ["ｂｉｇｂａｎｋ.example", "big\u00adbank.example", "bigbank\u200b.example"])
    def test_a_lookalike_vip_domain_goes_to_anna(self, api, demo, anna, domain):
        response = post(api, {"email": f"prezes@{domain}"})
        assert response.status_code == 201, response.content
        assert response.json()["owner"]["email"] == anna.email

    def test_the_preview_matches_the_same_way(self, api, demo):
        response = api.post("/api/v1/route/preview", data=json.dumps({"email": "jan@ｇｍａｉｌ.com"}), content_type="application/json")
        assert response.json()["status"] == "disqualified"

    @pytest.mark.parametrize("domain", ["a\u200db.pl", "firma\u2024pl"])
    def test_a_domain_that_is_no_valid_idn_is_a_clear_400(self, api, demo, domain):
        response = post(api, {"email": f"jan@{domain}"})
        assert response.status_code == 400, response.content
        assert "email" in response.json()["errors"]
        assert Lead.objects.count() == 0

    def test_a_unicode_domain_is_stored_as_its_u_label(self, api, demo):
        assert post(api, {"email": "Jan@ŻABKA.pl"}).status_code == 201
        assert post(api, {"email": "jan@xn--abka-99a.pl"}).status_code == 201
        first, second = Lead.objects.order_by("id")
        assert (first.email, first.email_domain) == ("Jan@żabka.pl", "żabka.pl")
        assert second.email_domain == "żabka.pl"
        assert second.email_key == first.email_key, "the same person: a repeat lead"

    def test_listing_by_a_lookalike_address_finds_the_lead(self, api, demo):
        post(api, {"email": "jan@firma.example"})
        response = api.get(URL, {"email": "jan@ｆｉｒｍａ.example"})
        assert [lead["id"] for lead in response.json()["results"]] == [Lead.objects.get().pk]


@pytest.mark.django_db
def test_domain_list_entries_are_normalised_the_same_way_and_old_a_labels_still_match(demo):
    assert domain_normalise(" @ＧＭＡＩＬ.com ") == "gmail.com"
    assert domain_normalise("XN--ABKA-99A.pl") == "żabka.pl"
    custom = DomainList.objects.create(name="Partners", kind=DomainList.Kind.CUSTOM)
    DomainListEntry.objects.create(domain_list=custom, domain="xn--abka-99a.pl")  # typed before normalisation
    assert custom.pk in domain_lists_for(domain=email_domain("jan@ŻABKA.pl"))


def test_e_mail_to_an_idn_address_goes_to_its_a_label():
    from notifications.delivery import _ascii_address

    assert _ascii_address("jan@straße.de") == "jan@xn--strae-oqa.de"
    assert _ascii_address("jan@firma.pl") == "jan@firma.pl"
