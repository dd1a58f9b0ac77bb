"""One home for a lead's facts (issue 9, build item 3): the what-if replay's bulk loader
(`routing.replay.facts.FactsBulk`) must give a stored lead the facts intake gave it (`routing.ruleset.lead_facts`,
`routing.selectors.lead_repeat`), explanation lines included, or the replay explains a lead differently from its
own history.

Found in the issue 9 audit: the old loader looked the territory up without the region as typed, so the replay's
territory line showed the folded spelling (a lead that typed “Śląskie” read region “slaskie” (Śląskie) in the
what-if drill-down where its own history says region Śląskie). The bulk loader reads it as intake does.
"""

import json
from dataclasses import replace

from routing.models import Lead
from routing.replay.facts import FactsBulk as FactsCache
from routing.ruleset import lead_facts
from routing.selectors import lead_repeat

LEADS = [
    {"email": "biuro@huta-katowice.example", "region": "slaskie"},  # typed as it folds
    {"email": "zakupy@hutastal.example", "city": "Gliwice"},
    {"email": "zakupy@hutastal.example", "postal_code": "40-001"},  # the second lead of this person: a repeat
    {"email": "ceo@pl.hutastal.example", "postal_code": "44-100"},
    {"email": "jan@gmail.com", "company_size": 400},
    {"email": "anna@firma.example", "industry": "Sklep internetowy", "extra": {"budget": "200 000 PLN"}},
]
TYPED_REGIONS = [
    {"email": "biuro@huta.example", "region": "Śląskie"},
    {"email": "biuro@okna-gliwice.example", "region": "woj. Śląsk"},
    {"email": "biuro@okna.example", "region": "  ŚLĄSKIE "},
]


def _comparable(facts):
    territory = facts.territory and replace(facts.territory, matched_by=str(facts.territory.matched_by))
    return replace(facts, territory=territory, repeat=None)


def _stored(api, bodies) -> list[Lead]:
    ids = []
    for body in bodies:
        response = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return list(Lead.objects.filter(pk__in=ids).order_by("pk"))


def test_the_replay_rebuilds_the_facts_and_the_earlier_leads_intake_saw(api, demo):
    leads = _stored(api, LEADS)
    cache = FactsCache(leads)
    for lead in leads:
        assert _comparable(cache.base(lead)) == _comparable(lead_facts(lead)), lead.email
        assert cache.repeat(lead, lambda _lead_id, owner_id: owner_id) == lead_repeat(lead=lead), lead.email


def test_the_replay_explains_the_territory_with_the_region_as_typed_like_intake(api, demo):
    leads = _stored(api, TYPED_REGIONS)
    cache = FactsCache(leads)
    for lead in leads:
        assert str(cache.base(lead).territory.matched_by) == str(lead_facts(lead).territory.matched_by)
