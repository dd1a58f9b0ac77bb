"""Demo history: realistic past leads for the TechPol demo, so a newcomer's dashboard, charts, wall and what-if
replay show something true to life on the first run (`python manage.py load_demo --history 30`).

Every lead goes through the real services with the clock moved back: `lead_create(now=...)` routes it and starts
its SLA clock, `activity_log(at=...)` records the rep's first response (a call or an e-mail) and later a meeting,
and `sla_tick(now=...)` runs at each moment an escalation step falls due, so reminders, reassignments and
team-lead alerts happen when they would have. Events are replayed in time order; what would happen after `now`
has simply not happened yet (the newest leads are still open).

Deterministic: each day's leads come from a random generator seeded with (seed, date), so the same day always
brings the same leads whatever the window. Safe to run twice: each lead has an idempotency key
(demo-history:<date>:<n>) on the "Demo history" intake source, and a lead already there is skipped with its
responses. The outbox messages of these past leads are marked as sent when they are written (in the same
transaction), so nothing from the past is delivered today.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from core import business_time
from core.text import fold
from flows.demo import demo_names
from flows.services.leads import ActivityRefused, activity_log, lead_create
from flows.services.sweep import sla_tick
from notifications.models import OutboxMessage
from routing.models import Activity, IntakeSource, Lead, LeadEvent
from routing.services.intake import intake_source_create, intake_source_revoke
from sla.models import BusinessCalendar
from sla.selectors import calendar_build

logger = logging.getLogger(__name__)

DEFAULT_SEED = 2026
SOURCE_NAME = "Demo history"
KEY_PREFIX = "demo-history"
MAX_DAYS = 365

FIRST_NAMES = [  # (name, is_female)
    ("Anna", True), ("Katarzyna", True), ("Małgorzata", True), ("Agnieszka", True), ("Joanna", True), ("Magdalena", True),
    ("Monika", True), ("Barbara", True), ("Zofia", True), ("Aleksandra", True), ("Beata", True), ("Justyna", True),
    ("Piotr", False), ("Krzysztof", False), ("Andrzej", False), ("Tomasz", False), ("Paweł", False), ("Michał", False),
    ("Marcin", False), ("Grzegorz", False), ("Łukasz", False), ("Adam", False), ("Jakub", False), ("Wojciech", False),
]  # fmt: skip
LAST_NAMES = [  # (male form, female form)
    ("Nowak", "Nowak"), ("Kowalski", "Kowalska"), ("Wiśniewski", "Wiśniewska"), ("Wójcik", "Wójcik"), ("Kowalczyk", "Kowalczyk"),
    ("Kamiński", "Kamińska"), ("Lewandowski", "Lewandowska"), ("Zieliński", "Zielińska"), ("Szymański", "Szymańska"),
    ("Woźniak", "Woźniak"), ("Dąbrowski", "Dąbrowska"), ("Kozłowski", "Kozłowska"), ("Jankowski", "Jankowska"), ("Mazur", "Mazur"),
    ("Krawczyk", "Krawczyk"), ("Piotrowski", "Piotrowska"), ("Grabowski", "Grabowska"), ("Pawłowski", "Pawłowska"), ("Michalski", "Michalska"),
]  # fmt: skip
GERMAN_PEOPLE = [("Jürgen", "Weber"), ("Sabine", "Fischer"), ("Stefan", "Becker"), ("Claudia", "Hoffmann"), ("Thomas", "Schulz")]
COMPANY_KINDS = [
    ("Fabryka Okien", "Produkcja"), ("Zakłady Mięsne", "Produkcja"), ("Drukarnia", "Produkcja"), ("Hurtownia Budowlana", "Budownictwo"),
    ("Biuro Rachunkowe", "Finanse"), ("Przychodnia", "Medycyna"), ("Transport", "Logistyka"), ("Software House", "IT"),
    ("Meble", "Produkcja"), ("Sklep", "E-commerce"), ("Centrum Logistyczne", "Logistyka"), ("Szkoła Językowa", "Edukacja"),
    ("Energetyka", "Energetyka"), ("Hotel", "Turystyka"),
]  # fmt: skip
COMPANY_NAMES = [
    "Sokół", "Orzeł", "Bursztyn", "Wisła", "Tatry", "Mazovia", "Polmet", "Elbud", "Transpol", "Agromax", "Drewpol", "Stalmot",
    "Kabex", "Optimed", "Ekoplast", "Warta", "Odra", "Karpaty", "Bałtyk", "Jantar", "Piast", "Kormoran", "Żuraw", "Dębina",
]  # fmt: skip
COMPANY_FORMS = [" sp. z o.o.", " sp. z o.o.", " S.A.", " sp.j.", ""]
PLACES = [  # city, region, postal code prefix
    ("Warszawa", "mazowieckie", "00"), ("Warszawa", "mazowieckie", "02"), ("Kraków", "małopolskie", "30"), ("Poznań", "wielkopolskie", "60"),
    ("Wrocław", "dolnośląskie", "50"), ("Gdańsk", "pomorskie", "80"), ("Łódź", "łódzkie", "90"), ("Szczecin", "zachodniopomorskie", "70"),
    ("Lublin", "lubelskie", "20"), ("Rzeszów", "podkarpackie", "35"), ("Bydgoszcz", "kujawsko-pomorskie", "85"), ("Białystok", "podlaskie", "15"),
]  # fmt: skip
SILESIA = [("Katowice", "śląskie", "40"), ("Gliwice", "śląskie", "44"), ("Sosnowiec", "Śląskie", "41"), ("Bielsko-Biała", "slaskie", "43")]
JOB_TITLES = [
    "Dyrektor IT", "Kierownik zakupów", "Prezes zarządu", "Specjalista ds. zakupów", "Kierownik produkcji", "Dyrektor operacyjny",
    "Office manager", "Właściciel", "Kierownik logistyki", "CTO", "Dyrektor finansowy", "Kierownik sprzedaży",
]  # fmt: skip
STUDENT_TITLES = ["Student", "Praktykant", "Stażysta", "Studentka informatyki"]
FREE_MAIL = ["gmail.com", "wp.pl", "o2.pl", "onet.pl", "interia.pl"]
SOURCES = [("demo_request", 34), ("contact_form", 20), ("webinar", 18), ("report_download", 16), ("newsletter", 12)]
MESSAGES = {
    "demo_request": ["Prosimy o demo systemu.", "Chcemy zobaczyć, jak to działa u nas.", "Interesuje nas prezentacja dla zarządu.", ""],
    "contact_form": ["Proszę o kontakt w sprawie oferty.", "Ile kosztuje wdrożenie dla 40 osób?", "Czy macie integrację z naszym ERP?", ""],
    "webinar": ["", "Dziękuję za webinar, mam kilka pytań."],
    "report_download": ["", "Raport bardzo ciekawy."],
    "newsletter": [""],
}
FAILURES = ["AWARIA: linia produkcyjna stoi", "Awaria serwera, pilne!", "Mamy awarię systemu magazynowego"]
OUTCOMES = [  # first-response outcome, weight, a meeting follows
    ("Rozmowa odbyta, umówione demo", 24, True),
    ("Rozmowa odbyta, wysłana oferta", 30, False),
    ("Nie odebrał, wysłany e-mail", 20, False),
    ("Niezainteresowany", 10, False),
    ("Rozmowa odbyta, wraca w przyszłym kwartale", 16, False),
]
# How fast each rep answers, relative to the lead's SLA (1.0: as the others do).
REP_PACE = {"kasia": 0.85, "marek": 1.35, "ola": 1.0, "tomek": 1.15, "piotr": 0.75, "ewa": 0.9, "jan": 1.0, "anna": 1.25}
NO_CLOCK_MINUTES = 240  # leads without an SLA clock (newsletter): answered within about this many business minutes


@dataclass(frozen=True)
class PlannedLead:
    key: str
    at: datetime  # when it reached us (the moved clock)
    fields: dict
    pace: float  # the response time as a share of the SLA, before the rep's own pace; None: never answered
    kind: str  # call / email
    outcome: int  # index into OUTCOMES
    meeting_after_days: int


@dataclass
class HistoryResult:
    planned: int = 0
    created: int = 0
    skipped: int = 0
    responses: int = 0
    meetings: int = 0
    sweeps: int = 0
    seconds: float = 0.0
    statuses: dict = field(default_factory=dict)


def _office_calendar() -> business_time.Calendar | None:
    calendar = BusinessCalendar.objects.filter(name__in=demo_names("TechPol office")).first() or BusinessCalendar.objects.order_by("id").first()
    return calendar_build(calendar) if calendar is not None else None


def _weighted(rng: random.Random, choices: list[tuple[str, int]]) -> str:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in fold(text)).split())


def _arrival(rng: random.Random, day: date, cal: business_time.Calendar | None, zone) -> datetime:
    """When the lead arrives on `day`: mostly in opening hours on working days, evenings and weekends less."""
    ranges = cal.ranges_on(day) if cal is not None else ((time(8), time(16)),) if day.weekday() < 5 else ()
    if ranges and rng.random() < 0.85:
        opens, closes = rng.choice(list(ranges))
        start = datetime.combine(day, opens, zone)
        span = (datetime.combine(day, closes, zone) - start).total_seconds()
        return start + timedelta(seconds=rng.uniform(0, span))
    if ranges:
        hour = rng.choice([6, 7, 16, 17, 18, 19, 20, 21])
    else:
        hour = rng.randint(9, 20)
    return datetime.combine(day, time(hour), zone) + timedelta(seconds=rng.uniform(0, 3600))


def _person(rng: random.Random) -> tuple[str, str]:
    first, female = rng.choice(FIRST_NAMES)
    male_form, female_form = rng.choice(LAST_NAMES)
    return first, female_form if female else male_form


def _returning_contacts(seed: int) -> list[dict]:
    """A few people who come back (a second download, a new demo request): the repeat-lead rule's cases."""
    rng = random.Random(f"{seed}:returning")
    people = []
    for i in range(20):
        first, last = _person(rng)
        kind, industry = rng.choice(COMPANY_KINDS)
        company = f"{kind} {rng.choice(COMPANY_NAMES)}{rng.choice(COMPANY_FORMS)}"
        domain = f"{_slug(company.split(' sp.')[0].replace(' S.A.', ''))}-{i}.example"
        city, region, prefix = rng.choice(PLACES)
        people.append(
            {
                "first_name": first, "last_name": last, "company": company, "industry": industry, "job_title": rng.choice(JOB_TITLES),
                "email": f"{_slug(first)}.{_slug(last)}@{domain}", "city": city, "region": region,
                "postal_code": f"{prefix}-{rng.randint(0, 999):03d}", "phone": f"+48 5{rng.randint(0, 99):02d} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            }
        )  # fmt: skip
    return people


def _lead_fields(rng: random.Random, *, n: int, day: date, returning: list[dict]) -> dict:
    """One lead's fields, as the intake API would store them."""
    roll = rng.random()
    source = _weighted(rng, SOURCES)
    first, last = _person(rng)
    kind, industry = rng.choice(COMPANY_KINDS)
    name = rng.choice(COMPANY_NAMES)
    company = f"{kind} {name}{rng.choice(COMPANY_FORMS)}"
    domain = f"{_slug(kind + ' ' + name)}.example"
    city, region, prefix = rng.choice(PLACES)
    fields = {
        "first_name": first,
        "last_name": last,
        "company": company,
        "industry": industry,
        "job_title": rng.choice(JOB_TITLES),
        "email": f"{_slug(first)}.{_slug(last)}@{domain}",
        "phone": f"+48 {rng.randint(500, 799)} {rng.randint(100, 999)} {rng.randint(100, 999)}" if rng.random() < 0.7 else "",
        "city": city,
        "region": region,
        "postal_code": f"{prefix}-{rng.randint(0, 999):03d}",
        "company_size": rng.choice([5, 12, 25, 40, 60, 80, 120, 180, 240]),
        "language": "pl",
        "source": source,
        "message": rng.choice(MESSAGES[source]),
    }
    # The special cases the demo's rules are about, roughly as often as a real inbox has them.
    if roll < 0.03:
        fields["job_title"] = rng.choice(STUDENT_TITLES)
    elif roll < 0.10:
        fields["email"] = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL)}"
    elif roll < 0.12:
        fields.update(company="Huta Stal S.A.", industry="Produkcja", email=f"{_slug(first)}.{_slug(last)}@hutastal.example", company_size=1800)
    elif roll < 0.14:
        vip = rng.choice([("bigbank.example", "BigBank S.A.", "Finanse"), ("megamarket.example", "MegaMarket sp. z o.o.", "Handel")])
        fields.update(email=f"{_slug(first)}.{_slug(last)}@{vip[0]}", company=vip[1], industry=vip[2], company_size=5000)
    elif roll < 0.17:
        fields.update(message=rng.choice(FAILURES), source="contact_form")
    elif roll < 0.23:
        fields["company_size"] = rng.choice([300, 450, 800, 1200, 2500])
    elif roll < 0.26:
        g_first, g_last = rng.choice(GERMAN_PEOPLE)
        fields.update(
            first_name=g_first, last_name=g_last, company=f"{name} GmbH", email=f"{_slug(g_first)}.{_slug(g_last)}@{_slug(name)}-gmbh.example",
            language="de", city="Berlin", region="Berlin", postal_code="", country="DE", message="Wir interessieren uns für eine Demo.",
        )  # fmt: skip
    elif roll < 0.34:
        fields.update(industry="E-commerce", company=f"Sklep {name}.pl", email=f"{_slug(first)}.{_slug(last)}@sklep-{_slug(name)}.example")
    elif roll < 0.42:
        city, region, prefix = rng.choice(SILESIA)
        fields.update(city=city, region=region, postal_code=f"{prefix}-{rng.randint(0, 999):03d}")
    elif roll < 0.47:
        fields.update(rng.choice(returning))
    return fields


def history_plan(*, days: int, now: datetime, seed: int = DEFAULT_SEED, cal: business_time.Calendar | None = None) -> list[PlannedLead]:
    """The leads of the last `days` days up to `now`, in arrival order (no database access but the calendar's)."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now, zone).date()
    returning = _returning_contacts(seed)
    plans = []
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        rng = random.Random(f"{seed}:{day.isoformat()}")
        open_day = bool(cal.ranges_on(day)) if cal is not None else day.weekday() < 5
        count = rng.randint(20, 30) if open_day else rng.randint(1, 4)
        for n in range(count):
            at = _arrival(rng, day, cal, zone)
            fields = _lead_fields(rng, n=n, day=day, returning=returning)
            speed_roll = rng.random()
            if speed_roll < 0.78:
                pace = rng.uniform(0.1, 0.85)  # in time
            elif speed_roll < 0.90:
                pace = rng.uniform(1.05, 1.9)  # late: a reminder went out
            elif speed_roll < 0.985:
                pace = rng.uniform(2.1, 5.0)  # very late: reassigned on the way
            else:
                pace = None  # nobody ever answered
            outcome = rng.choices(range(len(OUTCOMES)), weights=[w for _t, w, _m in OUTCOMES])[0]
            plan = PlannedLead(
                key=f"{KEY_PREFIX}:{day.isoformat()}:{n:03d}",
                at=at,
                fields={**fields, "submitted_at": at - timedelta(seconds=rng.randint(2, 40))},
                pace=pace,
                kind=Activity.Kind.CALL if rng.random() < 0.7 else Activity.Kind.EMAIL,
                outcome=outcome,
                meeting_after_days=rng.randint(1, 6),
            )
            if plan.fields["submitted_at"] < now - timedelta(days=days) or at > now:
                continue
            plans.append(plan)
    plans.sort(key=lambda p: (p.at, p.key))
    return plans


def _history_source() -> IntakeSource:
    source = IntakeSource.objects.filter(name=SOURCE_NAME).first()
    if source is None:
        source, _token = intake_source_create(name=SOURCE_NAME)
        intake_source_revoke(source=source)  # nobody posts with it: its token was never shown
        source.refresh_from_db()
    return source


def _existing_keys(source: IntakeSource, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        found |= set(Lead.objects.filter(intake_source=source, idempotency_key__in=keys[i : i + 500]).values_list("idempotency_key", flat=True))
    return found


def _mark_sent(*, source: IntakeSource, at: datetime, after_id: int) -> int:
    """Messages of past leads are history: marked sent when written, so nothing is delivered today. Only the
    messages written since the last call (ids above `after_id`: this load is their only writer) are looked at, on
    the primary key; returns the id to pass next time. (Matching every pending message of the source instead cost
    ~25 ms a call on PostgreSQL by the end of a 30-day load, a third of its time.)"""
    newest = OutboxMessage.objects.filter(id__gt=after_id).aggregate(newest=Max("id"))["newest"]
    if newest is None:
        return after_id
    OutboxMessage.objects.filter(id__gt=after_id, id__lte=newest, lead__intake_source=source, status=OutboxMessage.Status.PENDING).update(
        status=OutboxMessage.Status.SENT, sent_at=at, created_at=at, next_attempt_at=None
    )
    return newest


def _response_at(*, lead: Lead, plan: PlannedLead, cal: business_time.Calendar | None) -> datetime | None:
    if plan.pace is None or lead.status == Lead.Status.DISQUALIFIED or cal is None:
        return None
    username = lead.owner.user.username if lead.owner_id else ""
    pace = plan.pace * REP_PACE.get(username, 1.0)
    minutes = lead.sla_policy.response_minutes if lead.sla_policy_id and lead.sla_policy.response_minutes else NO_CLOCK_MINUTES
    return business_time.add_business_minutes(cal, lead.submitted_at, max(1.0, pace * minutes))


def demo_history_load(*, days: int, now: datetime | None = None, seed: int = DEFAULT_SEED) -> HistoryResult:
    """Take in the last `days` days of demo leads with a moved clock, answer them, sweep at each due step."""
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    started = clock.monotonic()
    now = now or timezone.now()
    cal = _office_calendar()
    source = _history_source()
    plans = history_plan(days=days, now=now, seed=seed, cal=cal)
    existing = _existing_keys(source, [p.key for p in plans])
    result = HistoryResult(planned=len(plans), skipped=len(existing))

    order = itertools.count()
    events: list = [(p.at, next(order), "lead", p) for p in plans if p.key not in existing]
    heapq.heapify(events)
    last_sweep: datetime | None = None
    marked = 0  # the newest outbox id looked at by _mark_sent (0: the first call sees any left from an earlier run)
    while True:
        next_event = events[0][0] if events else now
        # An escalation step due before the next event: sweep at that moment first.
        steps = Lead.objects.filter(sla_next_step_at__lte=min(next_event, now))
        if last_sweep is not None:
            steps = steps.filter(sla_next_step_at__gt=last_sweep)
        due = steps.aggregate(at=Min("sla_next_step_at"))["at"]
        if due is not None:
            with transaction.atomic():
                sla_tick(now=due)
                marked = _mark_sent(source=source, at=due, after_id=marked)
            last_sweep, result.sweeps = due, result.sweeps + 1
            continue
        if not events:
            break
        at, _n, kind, payload = heapq.heappop(events)
        if at > now:
            continue  # has not happened yet
        with transaction.atomic():
            if kind == "lead":
                lead, created = lead_create(source=source, fields=dict(payload.fields), idempotency_key=payload.key, now=at)
                if not created:
                    result.skipped += 1
                    continue
                result.created += 1
                # An autoresponse is recorded at the real time by its service; in the past it went out on arrival.
                LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.AUTORESPONSE, at__gt=at).update(at=at)
                lead = Lead.objects.select_related("owner__user", "sla_policy").get(pk=lead.pk)
                respond_at = _response_at(lead=lead, plan=payload, cal=cal)
                if respond_at is not None:
                    heapq.heappush(events, (respond_at, next(order), "respond", (lead.pk, payload)))
            elif kind == "respond":
                lead_id, plan = payload
                lead = Lead.objects.get(pk=lead_id)
                outcome, _weight, meeting = OUTCOMES[plan.outcome]
                try:
                    activity_log(lead=lead, kind=plan.kind, at=at, outcome=outcome)
                except ActivityRefused:
                    continue  # nobody owns it (left unassigned): it stays unhandled
                result.responses += 1
                if meeting and cal is not None:
                    meeting_at = business_time.add_business_minutes(cal, at, plan.meeting_after_days * 8 * 60)
                    heapq.heappush(events, (meeting_at, next(order), "meeting", lead_id))
            else:  # a meeting after the call
                lead = Lead.objects.get(pk=payload)
                if lead.owner_id:
                    activity_log(lead=lead, kind=Activity.Kind.MEETING, at=at, outcome="Demo przeprowadzone, czekamy na decyzję")
                    result.meetings += 1
            marked = _mark_sent(source=source, at=at, after_id=marked)
    result.statuses = {
        status: Lead.objects.filter(intake_source=source, status=status).count() for status in Lead.Status.values
    }
    result.seconds = round(clock.monotonic() - started, 1)
    logger.info("demo history: %s", result)
    return result
