"""A big routing table on top of the TechPol demo, for the routing-decision benchmark and the preview's query count.

`routing_grow(rules=487, reps=200)` stores (bulk, not through the admin) `reps` more reps in pools of ten, twenty
custom domain lists and `rules` more rules tested *before* the demo's 13, with every kind of condition a manager
writes: equals, not equals, is one of, contains, has the words, starts with, number comparisons, is (not) empty,
e-mail domain in a list, extra fields; "all" and "any". Each rule is tied to one campaign (`extra.campaign` "c<i>"),
so `lead_fields(j)` matches rule j % 700 when that is one of them, and otherwise passes every added rule and
falls through to the demo's rules: the slow case the p99 is about.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from reps.models import DomainList, DomainListEntry, Pool, PoolMembership, Rep
from routing.models import Rule, RuleCondition

POOL_SIZE = 10
LISTS = 20
CAMPAIGNS = 700  # leads of campaigns c500..c699 match none of the 500 added rules
REGIONS = ["Śląskie", "Mazowieckie", "Małopolskie", "Pomorskie", "Wielkopolskie"]
SOURCES = ["demo_request", "webinar", "report_download", "newsletter", "contact_form"]
TITLES = ["Kierownik projektów", "Dyrektor zakupów", "Specjalista ds. logistyki", "Prezes zarządu", "Analityk danych"]


def _conditions(i: int, lists: list[DomainList]) -> tuple[str, list[dict]]:
    """Rule i's match and conditions: a mix of operators, the campaign test deciding whether it matches."""
    campaign = f"c{i}"
    kind = i % 8
    if kind == 0:
        return "all", [
            {"field": "source", "operator": "equals", "value": SOURCES[i % 5]},
            {"field": "extra.campaign", "operator": "equals", "value": campaign},
        ]
    if kind == 1:
        return "all", [
            {"field": "region", "operator": "in", "value": ";".join(REGIONS[:3])},
            {"field": "extra.campaign", "operator": "in", "value": f"{campaign};x{i}"},
        ]
    if kind == 2:
        return "all", [
            {"field": "company", "operator": "contains", "value": f"grupa;holding;sp. z o.o. nr {i}"},
            {"field": "extra.campaign", "operator": "equals", "value": campaign},
        ]
    if kind == 3:
        return "all", [
            {"field": "job_title", "operator": "words", "value": "kierownik;dyrektor;prezes"},
            {"field": "extra.campaign", "operator": "starts_with", "value": f"{campaign};z{i}"},
        ]
    if kind == 4:
        low = (i * 7) % 400
        return "all", [
            {"field": "company_size", "operator": "gte", "value": str(low)},
            {"field": "company_size", "operator": "lt", "value": str(low + 400)},
            {"field": "extra.campaign", "operator": "equals", "value": campaign},
        ]
    if kind == 5:
        return "any", [
            {"field": "", "operator": "in_domain_list", "value": "", "domain_list": lists[i % len(lists)]},
            {"field": "message", "operator": "words", "value": f"oferta specjalna {i};przetarg {i}"},
            {"field": "extra.campaign", "operator": "equals", "value": campaign},
        ]
    if kind == 6:
        return "all", [
            {"field": "phone", "operator": "not_empty", "value": ""},
            {"field": "country", "operator": "not_equals", "value": "DE"},
            {"field": "extra.campaign", "operator": "equals", "value": campaign},
        ]
    return "all", [
        {"field": "postal_code", "operator": "gte", "value": "00-000"},
        {"field": "city", "operator": "contains", "value": "Katowice;Warszawa;Kraków"},
        {"field": "extra.campaign", "operator": "equals", "value": campaign},
    ]


def routing_grow(*, rules: int, reps: int) -> dict:
    """Store `reps` reps (in pools of ten), twenty domain lists and `rules` rules before the demo's; returns ids."""
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"bench{n}", email=f"bench{n}@techpol.example") for n in range(reps)])
    new_reps = Rep.objects.bulk_create(
        [Rep(user=user, name=f"Handlowiec {n}", email=user.email, weight=1 + n % 3, daily_cap=None if n % 4 else 40) for n, user in enumerate(users)]
    )
    pools = Pool.objects.bulk_create([Pool(name=f"Zespół {p}") for p in range(max(1, reps // POOL_SIZE))])
    PoolMembership.objects.bulk_create(
        [PoolMembership(pool=pools[n // POOL_SIZE % len(pools)], rep=rep, position=n % POOL_SIZE) for n, rep in enumerate(new_reps)]
    )
    lists = DomainList.objects.bulk_create([DomainList(name=f"Klienci {k}", kind=DomainList.Kind.CUSTOM) for k in range(LISTS)])
    DomainListEntry.objects.bulk_create([DomainListEntry(domain_list=lst, domain=f"klient{k}-{m}.example") for k, lst in enumerate(lists) for m in range(25)])

    made = Rule.objects.bulk_create(
        [
            Rule(
                name=f"Kampania c{i}",
                position=0,  # before the demo's rules (1..13); ties in id order
                match=_conditions(i, lists)[0],
                target=Rule.Target.POOL if i % 2 else Rule.Target.REP,
                target_pool=pools[i % len(pools)] if i % 2 else None,
                target_rep=None if i % 2 else new_reps[i % len(new_reps)],
            )
            for i in range(rules)
        ]
    )
    RuleCondition.objects.bulk_create([RuleCondition(rule=rule, **row) for i, rule in enumerate(made) for row in _conditions(i, lists)[1]])
    return {"rules": [r.pk for r in made], "reps": [r.pk for r in new_reps], "pools": [p.pk for p in pools]}


def lead_fields(j: int) -> dict:
    """A lead's fields (as the intake form gives them); lead j is of campaign c<j % 700>."""
    domain = f"klient{j % LISTS}-{j % 25}.example" if j % 40 == 0 else f"firma{j % 300}.example"
    return {
        "email": f"osoba{j}@{domain}",
        "first_name": "Jan",
        "company": f"Grupa Firma {j % 97}" if j % 9 == 0 else f"Firma {j % 97}",
        "job_title": TITLES[j % len(TITLES)],
        "phone": "+48 600 000 000" if j % 2 else "",
        "city": ["Katowice", "Gliwice", "Warszawa", "Kraków", "Gdańsk"][j % 5],
        "region": REGIONS[j % len(REGIONS)],
        "postal_code": f"{40 + j % 50:02d}-{j % 1000:03d}",
        "company_size": (j * 37) % 900,
        "source": SOURCES[j % len(SOURCES)],
        "message": "Prosimy o ofertę na wdrożenie systemu." if j % 3 else "AWARIA linii produkcyjnej, pilne!",
        "extra": {"campaign": f"c{j % CAMPAIGNS}"},
    }
