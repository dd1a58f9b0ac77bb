"""The TechPol demo (docs/demo.md): what every new user starts with.

Idempotent: objects are found by natural keys and brought back to the demo's state, so loading twice
leaves one copy.

Names are written in English below and made in the site language (`settings.LANGUAGE_CODE`): with "pl" the
rules, pools, lists, policies, calendar, channels, tasks, notes and tags get their Polish names from
locale/pl (context "demo"). An object is found by its name in any language, so loading the demo again in the
other language renames it instead of making a second copy. Code and tests that look a demo object up by name
use `demo_name` (or the English name, the tests' site language).
"""

from datetime import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation
from django.utils.translation import pgettext, pgettext_lazy

from core.text import fold
from notifications.models import Channel
from notifications.services import company_profile_set
from reps.models import (
    Account,
    AccountDomain,
    DomainList,
    DomainListEntry,
    OnDutyRota,
    Pool,
    PoolMembership,
    PostalRange,
    Rep,
    Territory,
    TerritoryRegion,
    VocabularySpelling,
    VocabularyTerm,
)
from reps.services import pool_fallback_set
from reps.vocabulary_seed import vocabulary_seed
from routing.models import Rule, RuleAction, RuleCondition, ScoreCondition, ScoreRule
from routing.roles import sales_manager_group_sync
from sla.models import BusinessCalendar, EscalationStep, OpeningHours, PolicyCondition, SlaPolicy

DOMAIN = "techpol.example"

# Every name and text the demo stores, marked for `makemessages` (context "demo"); the code below writes the
# same English and `demo_name` looks it up. tests/test_demo_polish.py checks each has its Polish translation.
NAME_CONTEXT = "demo"
NAMES = (
    # pools
    pgettext_lazy("demo", "Demo"),
    pgettext_lazy("demo", "Juniors"),
    pgettext_lazy("demo", "Rapid response"),
    # domain lists
    pgettext_lazy("demo", "VIP"),
    pgettext_lazy("demo", "Free mail"),
    pgettext_lazy("demo", "Disposable addresses"),
    # channels
    pgettext_lazy("demo", "E-mail"),
    pgettext_lazy("demo", "Slack #sales-alerts"),
    pgettext_lazy("demo", "Slack #management"),
    pgettext_lazy("demo", "Teams: Sales"),
    pgettext_lazy("demo", "SMS gateway"),
    pgettext_lazy("demo", "Mailing campaign webhook"),
    # rules, and the texts of their actions
    pgettext_lazy("demo", "Students and interns → disqualify"),
    pgettext_lazy("demo", "Free-mail address → disqualify"),
    pgettext_lazy("demo", "Existing account → account manager"),
    pgettext_lazy("demo", "Repeat lead → previous owner"),
    pgettext_lazy("demo", "VIP domain → Anna"),
    pgettext_lazy("demo", 'Failure ("awaria") → Rapid response'),
    pgettext_lazy("demo", "Score ≥ 60 → Tomek"),
    pgettext_lazy("demo", "Enterprise (> 250 employees) → Tomek"),
    pgettext_lazy("demo", "German form → Jan"),
    pgettext_lazy("demo", "E-commerce → specialist"),
    pgettext_lazy("demo", "Territory → territory owner"),
    pgettext_lazy("demo", "Demo request → Demo pool"),
    pgettext_lazy("demo", "Webinar → Juniors pool"),
    pgettext_lazy("demo", "export pipeline"),
    pgettext_lazy("demo", "E-commerce case study: https://techpol.example/case-studies/e-commerce"),
    pgettext_lazy("demo", "Propose an in-person meeting"),
    # the score rules
    pgettext_lazy("demo", "Price list or report download"),
    pgettext_lazy("demo", "Phone number given"),
    pgettext_lazy("demo", "Board-level or director title"),
    pgettext_lazy("demo", "50–250 employees"),
    pgettext_lazy("demo", "More than 250 employees"),
    pgettext_lazy("demo", "Budget of 100 000 PLN or more"),
    # the business calendar and the SLA policies
    pgettext_lazy("demo", "TechPol office"),
    pgettext_lazy("demo", "Critical"),
    pgettext_lazy("demo", "Medium"),
    pgettext_lazy("demo", "Low"),
    pgettext_lazy("demo", "Default"),
)


def demo_name(english: str, language: str | None = None) -> str:
    """A demo name or text in `language` (default: the site language, the one the demo is made in)."""
    with translation.override(language or settings.LANGUAGE_CODE):
        return pgettext(NAME_CONTEXT, english)


def demo_names(english: str) -> list[str]:
    """The name in every language of the site: how an object made in another language is found again."""
    return list(dict.fromkeys([english, *(demo_name(english, code) for code, _label in settings.LANGUAGES)]))


def _named(manager, english: str, defaults: dict):
    """update_or_create by a demo name: found by its name in any language, saved with the site language's."""
    obj = manager.filter(name__in=demo_names(english)).order_by("pk").first()
    if obj is None:
        return manager.create(name=demo_name(english), **defaults)
    for field, value in {**defaults, "name": demo_name(english)}.items():
        setattr(obj, field, value)
    obj.save()
    return obj


PEOPLE = [
    # username, name, role, team lead
    ("tomek", "Tomek Wiśniewski", "senior, enterprise accounts", False),
    ("kasia", "Kasia Nowak", "e-commerce specialist", False),
    ("marek", "Marek Zieliński", "junior", False),
    ("ola", "Ola Wójcik", "junior", False),
    ("piotr", "Piotr Kamiński", "rapid response", False),
    ("ewa", "Ewa Lewandowska", "rapid response", False),
    ("jan", "Jan Schmidt", "German-speaking specialist", False),
    ("anna", "Anna Kowalczyk", "sales director and team lead", True),
]
LANGUAGES = {"jan": "de,pl,en", "tomek": "pl,en", "anna": "pl,en"}
POOLS = {"Demo": ["kasia", "marek", "ola"], "Juniors": ["marek", "ola"], "Rapid response": ["piotr", "ewa"]}
# The free-mail list is the package's (reps.domain_packages, about 4 800 domains) plus TechPol's own entries: the
# Polish providers, some of which the package lacks (buziaczek.pl, tlen.pl, go2.pl, int.pl).
FREE_MAIL = [
    "gmail.com", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "op.pl", "buziaczek.pl", "yahoo.com", "outlook.com", "hotmail.com",
    "gazeta.pl", "tlen.pl", "poczta.fm", "vp.pl", "go2.pl", "int.pl", "interia.eu", "poczta.onet.pl", "autograf.pl",
]
VIP = ["bigbank.example", "megamarket.example"]
# (name, kind, built-in package, the demo's own entries)
DOMAIN_LISTS = [
    ("VIP", DomainList.Kind.VIP, DomainList.Builtin.NONE, VIP),
    ("Free mail", DomainList.Kind.FREE_MAIL, DomainList.Builtin.FREE_EMAIL, FREE_MAIL),
    ("Disposable addresses", DomainList.Kind.DISPOSABLE, DomainList.Builtin.DISPOSABLE, []),
]


def _channel(name: str, kind: str, notify_url: str | None, **config: object) -> Channel:
    return _named(Channel.objects, name, {"kind": kind, "url": notify_url or "", "config": config, "is_active": True})


@transaction.atomic
def demo_load(*, password: str = "demo", notify_url: str | None = None) -> dict[str, Rep]:
    """Create or restore the TechPol demo; returns the reps by username."""
    User = get_user_model()
    group = sales_manager_group_sync()

    reps: dict[str, Rep] = {}
    for username, name, _role, team_lead in PEOPLE:
        first, last = name.split(" ", 1)
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@{DOMAIN}", "is_staff": False, "is_active": True},
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        rep, _ = Rep.objects.update_or_create(
            user=user,
            defaults={
                "name": name,
                "email": f"{username}@{DOMAIN}",
                "phone": f"+48 600 100 {len(reps) + 1:03d}",
                "languages": LANGUAGES.get(username, "pl,en"),
                "weight": 1,
                "daily_cap": None,
                "status": Rep.Status.AVAILABLE,
                "is_team_lead": team_lead,
                "is_active": True,
                "notify_via": ["email", "sms"],
            },
        )
        rep.absences.all().delete()  # all reps are available when the demo is loaded
        reps[username] = rep

    manager, _ = User.objects.update_or_create(
        username="manager",
        defaults={"first_name": "Magda", "last_name": "Manager", "email": f"manager@{DOMAIN}", "is_staff": True, "is_active": True},
    )
    manager.set_password(password)
    manager.save(update_fields=["password"])
    manager.groups.add(group)

    pools: dict[str, Pool] = {}
    for pool_name, members in POOLS.items():
        pool = _named(Pool.objects, pool_name, {"fallback_rep": None, "is_fallback": False, "rotation": {}})
        pool.memberships.all().delete()
        PoolMembership.objects.bulk_create(
            PoolMembership(pool=pool, rep=reps[username], position=i, weight=None) for i, username in enumerate(members)
        )
        pools[pool_name] = pool
    pool_fallback_set(pool=pools["Juniors"])

    OnDutyRota.objects.all().delete()
    for weekday, username in [(0, "kasia"), (1, "marek"), (2, "kasia"), (3, "marek"), (4, "kasia")]:
        OnDutyRota.objects.create(weekday=weekday, rep=reps[username])

    account, _ = Account.objects.update_or_create(name="Huta Stal S.A.", defaults={"manager": reps["tomek"]})
    AccountDomain.objects.update_or_create(domain="hutastal.example", defaults={"account": account})

    lists = {}
    for list_name, kind, builtin, domains in DOMAIN_LISTS:
        domain_list = _named(DomainList.objects, list_name, {"kind": kind, "builtin": builtin})
        for domain in domains:
            DomainListEntry.objects.update_or_create(domain_list=domain_list, domain=domain, defaults={"is_exception": False})
        lists[list_name] = domain_list
    # The region and industry vocabularies the territory and rule 9 rely on (Śląsk, "Sklep internetowy").
    vocabulary_seed(term_model=VocabularyTerm, spelling_model=VocabularySpelling, complete=True)

    territory, _ = Territory.objects.update_or_create(name="Śląsk", defaults={"owner_rep": reps["kasia"], "owner_pool": None})
    territory.regions.all().delete()
    territory.cities.all().delete()
    territory.postal_ranges.all().delete()
    TerritoryRegion.objects.create(territory=territory, name="Śląskie", key=fold("Śląskie"))
    PostalRange.objects.create(territory=territory, start=40000, end=44999)

    # Without --notify-url the chat channels fall back to e-mail (console in dev), to the manager.
    to_manager = {"email": f"manager@{DOMAIN}"}
    channels = {
        "email": _channel("E-mail", Channel.Kind.EMAIL, None),
        "alerts": _channel("Slack #sales-alerts", Channel.Kind.SLACK, notify_url, **to_manager),
        "management": _channel("Slack #management", Channel.Kind.SLACK, notify_url, **to_manager),
        "teams": _channel("Teams: Sales", Channel.Kind.TEAMS, notify_url, **to_manager),
        "sms": _channel(
            "SMS gateway", Channel.Kind.SMS, notify_url, method="POST", body_template='{"to": "{{ to }}", "text": "{{ text }}"}',
            test_to="+48 600 100 001", **to_manager,
        ),
        "campaign": _channel("Mailing campaign webhook", Channel.Kind.WEBHOOK, notify_url, **to_manager),
    }

    _score_rules_load()
    _rules_load(reps=reps, pools=pools, lists=lists, channels=channels)
    _sla_load(reps=reps, channels=channels)
    company_profile_set(name="TechPol", website="https://techpol.example", phone="+48 32 555 01 00")  # signs e-mails to leads
    return reps


def _rule(
    position: int,
    name: str,
    target: str,
    *,
    conditions: list[tuple[str, str, str, DomainList | None]],
    actions: list[dict],
    match: str = "all",
    rep: Rep | None = None,
    pool: Pool | None = None,
) -> Rule:
    rule = _named(
        Rule.objects, name, {"position": position, "is_active": True, "match": match, "target": target, "target_rep": rep, "target_pool": pool}
    )
    rule.conditions.all().delete()
    rule.actions.all().delete()
    for field, operator, value, domain_list in conditions:
        RuleCondition.objects.create(rule=rule, field=field, operator=operator, value=value, domain_list=domain_list)
    for i, action in enumerate(actions):
        if action.get("text"):
            action = {**action, "text": demo_name(action["text"])}
        RuleAction.objects.create(rule=rule, position=i, **action)
    return rule


def _rules_load(*, reps: dict[str, Rep], pools: dict[str, Pool], lists: dict[str, DomainList], channels: dict[str, Channel]) -> None:
    Op = RuleCondition.Operator
    T = Rule.Target
    K = RuleAction.Kind
    R = RuleAction.Recipient
    rules = [
        ("Students and interns → disqualify", T.NOBODY, {}, [("job_title", Op.WORDS, "student;praktykant;stażysta;intern", None)],
         [{"kind": K.EMAIL_LEAD, "template": "ebooks"}]),
        ("Free-mail address → disqualify", T.NOBODY, {"match": "any"},
         [("", Op.IN_DOMAIN_LIST, "", lists["Free mail"]), ("", Op.IN_DOMAIN_LIST, "", lists["Disposable addresses"])],
         [{"kind": K.EMAIL_LEAD, "template": "business_address"}]),
        ("Existing account → account manager", T.ACCOUNT_MANAGER, {}, [("", Op.IS_ACCOUNT, "", None)],
         [{"kind": K.NOTIFY, "channel": channels["email"], "recipient": R.OWNER, "template": "account_lead"}]),
        ("Repeat lead → previous owner", T.PREVIOUS_OWNER, {}, [("", Op.IS_REPEAT, "", None)],
         [{"kind": K.NOTIFY, "channel": channels["email"], "recipient": R.OWNER, "template": "repeat_lead"}]),
        ("VIP domain → Anna", T.REP, {"rep": reps["anna"]}, [("", Op.IN_DOMAIN_LIST, "", lists["VIP"])],
         [{"kind": K.NOTIFY, "channel": channels["management"], "recipient": R.MANAGEMENT, "template": "vip_lead",
           "config": {"urgent": True}}]),
        ("Failure (\"awaria\") → Rapid response", T.POOL, {"pool": pools["Rapid response"]}, [("message", Op.WORDS, "awaria", None)],
         [{"kind": K.NOTIFY, "channel": channels["alerts"], "recipient": R.CHANNEL, "template": "red_alert",
           "config": {"priority": "critical"}}]),
        ("Score ≥ 60 → Tomek", T.REP, {"rep": reps["tomek"]}, [("score", Op.GTE, "60", None)],
         [{"kind": K.NOTIFY, "channel": channels["sms"], "recipient": R.OWNER, "template": "sms_alert"}]),
        ("Enterprise (> 250 employees) → Tomek", T.REP, {"rep": reps["tomek"]}, [("company_size", Op.GT, "250", None)],
         [{"kind": K.NOTIFY, "channel": channels["sms"], "recipient": R.OWNER, "template": "sms_alert"}]),
        ("German form → Jan", T.REP, {"rep": reps["jan"]}, [("language", Op.EQUALS, "de", None)],
         [{"kind": K.TAG, "text": "export pipeline"}]),
        ("E-commerce → specialist", T.REP, {"rep": reps["kasia"]}, [("industry", Op.EQUALS, "E-commerce", None)],
         [{"kind": K.NOTE, "text": "E-commerce case study: https://techpol.example/case-studies/e-commerce"}]),
        ("Territory → territory owner", T.TERRITORY, {}, [("", Op.IN_TERRITORY, "", None)],
         [{"kind": K.TASK, "text": "Propose an in-person meeting", "config": {"due_business_minutes": 480}}]),
        ("Demo request → Demo pool", T.POOL, {"pool": pools["Demo"]}, [("source", Op.EQUALS, "demo_request", None)],
         [{"kind": K.EMAIL_LEAD, "template": "calendar_link", "config": {"booking_url": "https://techpol.example/book"}}]),
        ("Webinar → Juniors pool", T.POOL, {"pool": pools["Juniors"]}, [("source", Op.EQUALS, "webinar", None)],
         [{"kind": K.WEBHOOK, "channel": channels["campaign"], "recipient": R.CHANNEL, "template": "campaign_enrol",
           "config": {"campaign": "webinar-followup"}}]),
    ]
    names = []
    for position, (name, target, who, conditions, actions) in enumerate(rules, start=1):
        _rule(position, name, target, conditions=conditions, actions=actions, **who)
        names.append(demo_name(name))
    # Rules the demo does not know are switched off, not deleted: a manager's own rules survive a reload.
    Rule.objects.exclude(name__in=names).update(is_active=False)


# The value-based lead score (docs/demo.md, "Lead score"): name, points, match, conditions (field, operator, value).
SCORE_RULES = [
    ("Price list or report download", 10, "all", [("source", "equals", "report_download")]),
    ("Phone number given", 10, "all", [("phone", "not_empty", "")]),
    ("Board-level or director title", 20, "all", [("job_title", "words", "prezes;dyrektor;CEO;director;head of")]),
    ("50–250 employees", 10, "all", [("company_size", "gte", "50"), ("company_size", "lte", "250")]),
    ("More than 250 employees", 20, "all", [("company_size", "gt", "250")]),
    ("Budget of 100 000 PLN or more", 20, "all", [("extra.budget", "gte", "100000")]),
]


def _score_rules_load() -> None:
    """The demo's score rules, by name; score rules the demo does not know are switched off, not deleted."""
    names = []
    for position, (name, points, match, conditions) in enumerate(SCORE_RULES, start=1):
        rule = _named(ScoreRule.objects, name, {"points": points, "position": position, "is_active": True, "match": match})
        rule.conditions.all().delete()
        ScoreCondition.objects.bulk_create(ScoreCondition(score_rule=rule, field=f, operator=op, value=v) for f, op, v in conditions)
        names.append(demo_name(name))
    ScoreRule.objects.exclude(name__in=names).update(is_active=False)


def _sla_load(*, reps: dict[str, Rep], channels: dict[str, Channel]) -> None:
    calendar = _named(BusinessCalendar.objects, "TechPol office", {"time_zone": "Europe/Warsaw", "holidays_country": "PL"})
    calendar.opening_hours.all().delete()
    OpeningHours.objects.bulk_create(OpeningHours(calendar=calendar, weekday=d, opens=time(8), closes=time(16)) for d in range(5))

    Op = PolicyCondition.Operator
    S = EscalationStep.Kind
    chain = {
        15: [(15, S.REMIND), (30, S.REASSIGN), (90, S.ALERT_TEAM_LEAD)],
        120: [(120, S.REMIND), (150, S.REASSIGN), (240, S.ALERT_TEAM_LEAD)],
    }
    policies = [
        ("Critical", "any", "critical", 15, "", [("source", Op.EQUALS, "demo_request"), ("message", Op.WORDS, "awaria")]),
        ("Medium", "all", "medium", 120, "", [("source", Op.EQUALS, "report_download"), ("phone", Op.NOT_EMPTY, "")]),
        ("Low", "all", "low", None, "thank_you", [("source", Op.EQUALS, "newsletter"), ("phone", Op.EMPTY, "")]),
        ("Default", "all", "medium", 120, "", []),  # "as Medium"
    ]
    names = []
    for position, (name, match, priority, minutes, autoresponse, conditions) in enumerate(policies, start=1):
        policy = _named(
            SlaPolicy.objects,
            name,
            {
                "position": position,
                "is_active": True,
                "match": match,
                "priority": priority,
                "response_minutes": minutes,
                "calendar": calendar,
                "autoresponse_template": autoresponse,
            },
        )
        policy.conditions.all().delete()
        for field, operator, value in conditions:
            PolicyCondition.objects.create(policy=policy, field=field, operator=operator, value=value)
        policy.steps.all().delete()
        for after, kind in chain.get(minutes, []):
            EscalationStep.objects.create(policy=policy, after_minutes=after, kind=kind)
        names.append(demo_name(name))
    SlaPolicy.objects.exclude(name__in=names).update(is_active=False)
