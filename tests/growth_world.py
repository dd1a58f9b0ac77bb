"""Data that hides no growth: leads whose every fact is their own, and many reps and pools.

Each lead has its own e-mail domain, region, city and postal code, so a cache keyed by equal values saves
nothing; by its number (n % 6) one fact of it also matches something of its own:

  0  an account on the PARENT of its e-mail domain (kontakt@dzial.konto7.example, account on konto7.example)
  1  the VIP domain list (an entry of its own)
  2  a territory by postal range (of its own, owned by a rep or a pool)
  3  a territory by city
  4  a territory by region
  5  an earlier lead with the same e-mail (stored before the period, with an owner): a repeat lead

The leads are stored as intake left them (owner, pool, rule, SLA clock, first response for two in three), so the
dashboard, the wall and the digest have something to count per rep, pool, source, policy and day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model

from core.text import fold, format_postal_code
from reps.models import (
    Absence,
    Account,
    AccountDomain,
    DomainList,
    DomainListEntry,
    Pool,
    PoolMembership,
    PostalRange,
    Rep,
    Territory,
    TerritoryCity,
    TerritoryRegion,
)
from routing.models import IntakeSource, Lead
from routing.services.intake import lead_normalise
from sla.models import SlaPolicy

SOURCES = ("demo_request", "webinar", "report_download", "contact_form", "newsletter")
KINDS = 6
POSTAL_BASE = 50_000  # above the demo's Śląsk range (40000–44999); seven codes per lead


@dataclass
class Grown:
    reps: list[Rep] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)  # the period's leads, oldest first
    earlier: list[Lead] = field(default_factory=list)  # the repeat leads' earlier leads (before the period)


def postal(n: int, offset: int) -> int:
    return POSTAL_BASE + 7 * n + offset


def grow(*, tag: str, first: int, reps: int, leads: int, since: datetime, days: int = 20) -> Grown:
    """`reps` new reps in pools of five, and `leads` leads numbered first, first + 1, ... received over `days`
    days from `since`, each with facts of its own (module docstring). `tag` keeps names apart between calls."""
    grown = Grown()
    user_model = get_user_model()
    users = user_model.objects.bulk_create(user_model(username=f"g{tag}{i}", email=f"g{tag}{i}@techpol.example") for i in range(reps))
    grown.reps = Rep.objects.bulk_create(
        Rep(user=user, name=f"Growth {tag} {i:03d}", email=user.email, weight=1 + i % 3, daily_cap=None if i % 4 else 50) for i, user in enumerate(users)
    )
    grown.pools = Pool.objects.bulk_create(
        Pool(name=f"Growth pool {tag} {p}", strategy=Pool.Strategy.LEAST_OPEN if p % 2 else Pool.Strategy.ROUND_ROBIN) for p in range(max(1, reps // 5))
    )
    PoolMembership.objects.bulk_create(PoolMembership(pool=grown.pools[i // 5 % len(grown.pools)], rep=rep, position=i) for i, rep in enumerate(grown.reps))
    Absence.objects.bulk_create(
        Absence(rep=rep, starts_on=(since + timedelta(days=i % days)).date(), ends_on=(since + timedelta(days=i % days + 1)).date(), reason=f"leave {i}")
        for i, rep in enumerate(grown.reps)
        if i % 4 == 1
    )

    vip = DomainList.objects.get(name="VIP")
    source = IntakeSource.objects.create(name=f"Growth {tag}", token_hash=f"growth-{tag}".ljust(64, "0"), token_prefix="lr_grow")
    policies = list(SlaPolicy.objects.order_by("position", "id"))

    def rep_of(n: int) -> Rep:
        return grown.reps[n % len(grown.reps)]

    def pool_of(n: int) -> Pool:
        return grown.pools[n % len(grown.pools)]

    numbers = range(first, first + leads)
    accounts = Account.objects.bulk_create(Account(name=f"Konto {n}", manager=rep_of(n + 1)) for n in numbers if n % KINDS == 0)
    AccountDomain.objects.bulk_create(AccountDomain(account=a, domain=f"konto{a.name.split()[-1]}.example") for a in accounts)
    DomainListEntry.objects.bulk_create(DomainListEntry(domain_list=vip, domain=f"vip{n}.example") for n in numbers if n % KINDS == 1)
    territories = {
        n: Territory(name=f"Obszar {n}", owner_rep=rep_of(n + 2) if n % 2 else None, owner_pool=None if n % 2 else pool_of(n))
        for n in numbers
        if n % KINDS in (2, 3, 4)
    }
    Territory.objects.bulk_create(territories.values())
    PostalRange.objects.bulk_create(PostalRange(territory=t, start=postal(n, 0), end=postal(n, 4)) for n, t in territories.items() if n % KINDS == 2)
    TerritoryCity.objects.bulk_create(TerritoryCity(territory=t, name=f"Miasto {n}", key=fold(f"Miasto {n}")) for n, t in territories.items() if n % KINDS == 3)
    TerritoryRegion.objects.bulk_create(
        TerritoryRegion(territory=t, name=f"Kraina {n}", key=fold(f"Kraina {n}")) for n, t in territories.items() if n % KINDS == 4
    )

    def email(n: int) -> str:
        kind = n % KINDS
        if kind == 0:
            return f"kontakt{n}@dzial.konto{n}.example"  # the account is on the parent domain
        if kind == 1:
            return f"szef{n}@vip{n}.example"
        return f"osoba{n}@firma{n}.example"

    def lead(n: int, when: datetime, **fields) -> Lead:
        kind = n % KINDS
        row = Lead(
            intake_source=source,
            email=email(n),
            company=f"Firma {n}",
            source=SOURCES[n % len(SOURCES)],
            city=f"Miasto {n}" if kind == 3 else f"Wieś {n}",
            region=f"Kraina {n}" if kind == 4 else f"Okolica {n}",
            postal_code=format_postal_code(postal(n, 2 if kind == 2 else 6)),
            company_size=(n * 37) % 600,
            submitted_at=when,
            received_at=when,
            **fields,
        )
        return lead_normalise(row)

    earlier_at = since - timedelta(days=3)
    grown.earlier = Lead.objects.bulk_create(
        lead(n, earlier_at, owner=rep_of(n + 3), status=Lead.Status.ASSIGNED, assigned_at=earlier_at) for n in numbers if n % KINDS == 5
    )
    rows = []
    for i, n in enumerate(numbers):
        when = since + timedelta(days=i % days, hours=9, minutes=i % 480)
        owner = rep_of(n + 4) if n % 11 else None
        answered = owner is not None and n % 3 != 0
        policy = policies[n % len(policies)] if policies else None
        rows.append(
            lead(
                n,
                when,
                owner=owner,
                pool=pool_of(n) if n % 2 else None,
                sla_policy=policy,
                status=(Lead.Status.CONTACTED if answered else Lead.Status.ASSIGNED) if owner else Lead.Status.UNASSIGNED,
                assigned_at=when + timedelta(seconds=30) if owner else None,
                system_delay_seconds=30 if owner else None,
                sla_due_at=when + timedelta(minutes=15 + n % 120),
                first_response_at=when + timedelta(minutes=5 + n % 50) if answered else None,
                rep_delay_seconds=(5 + n % 50) * 60 if answered else None,
                rep_delay_business_minutes=5 + n % 50 if answered else None,
            )  # fmt: skip
        )
    grown.leads = Lead.objects.bulk_create(rows)
    return grown
