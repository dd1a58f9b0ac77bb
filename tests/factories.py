"""factory-boy factories; the TechPol people come from the `demo` fixture (tests/conftest.py)."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.text import email_domain
from reps.models import Pool, PoolMembership, Rep
from routing.models import IntakeSource, Lead


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@techpol.example")


class RepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rep

    user = factory.SubFactory(UserFactory)
    name = factory.LazyAttribute(lambda r: r.user.username.title())
    email = factory.LazyAttribute(lambda r: r.user.email)


class PoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pool

    name = factory.Sequence(lambda n: f"Pool {n}")


class PoolMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PoolMembership

    pool = factory.SubFactory(PoolFactory)
    rep = factory.SubFactory(RepFactory)
    position = factory.Sequence(lambda n: n)


class IntakeSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntakeSource

    name = factory.Sequence(lambda n: f"Source {n}")
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    token_prefix = "lr_test"


class LeadFactory(factory.django.DjangoModelFactory):
    """A stored lead, bypassing intake: for tests of what happens after intake."""

    class Meta:
        model = Lead

    intake_source = factory.SubFactory(IntakeSourceFactory)
    email = factory.Sequence(lambda n: f"buyer{n}@firma{n}.example")
    email_domain = factory.LazyAttribute(lambda lead: email_domain(lead.email))
    email_key = factory.LazyAttribute(lambda lead: lead.email.lower())
    submitted_at = factory.LazyFunction(timezone.now)
