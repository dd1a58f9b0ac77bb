"""Validation of the intake API's bodies. The forms are also the source of the OpenAPI document."""

import codecs
import json
import math
import re
from datetime import UTC, datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.iso_codes import COUNTRIES, LANGUAGES
from core.text import idna_domain
from routing.models import Activity

MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_EXTRA_KEYS = 100
MAX_DEPTH = 32
ASCII_INTEGER = re.compile(r"-?[0-9]{1,20}")


class BodyError(ValueError):
    """The body as a whole is unusable (not JSON, not an object)."""


def body_parse(*, raw: bytes, content_type: str, post) -> dict:
    """The request body as a dict of JSON values: a JSON object, or a form-encoded body."""
    form_encoded = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows tools start UTF-8 with a BOM; JSON allows ignoring it
    # `curl -d '{...}'` sends JSON labelled as a form: read it as the JSON it is.
    if form_encoded and not raw.lstrip().startswith(b"{"):
        return {key: post.get(key) for key in post}
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise BodyError(_("The body is not valid UTF-8.")) from exc
    except (ValueError, RecursionError) as exc:
        raise BodyError(_("The body is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise BodyError(_("The body must be a JSON object."))
    if _too_deep(data):
        raise BodyError(_("The body is nested more than %(n)d levels deep.") % {"n": MAX_DEPTH})
    return data


def _too_deep(value) -> bool:
    """Whether lists/objects nest deeper than MAX_DEPTH (checked without recursion: the check must not crash)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _text_problem(value) -> str | None:
    """Why PostgreSQL would refuse this JSON value (NUL bytes, lone surrogates, NaN), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return _("Null characters are not allowed.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _("Contains characters that are not valid Unicode.")
    elif isinstance(value, float) and not math.isfinite(value):
        return _("Numbers must be finite.")
    elif isinstance(value, list):
        for item in value:
            if problem := _text_problem(item):
                return problem
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := _text_problem(key) or _text_problem(item):
                return problem
    return None


class IsoDateTimeField(forms.Field):
    """ISO 8601; a value without an offset is read in the server's time zone."""

    default_error_messages = {"invalid": gettext_lazy("Enter a date and time in ISO 8601, e.g. 2026-11-17T10:00:00+01:00.")}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(str(value).strip())
            except ValueError:
                parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
            # Stored and compared in UTC: PostgreSQL refuses offsets past ±15:59, and year 1 cannot move at all.
            parsed = parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        if parsed < EARLIEST:
            raise forms.ValidationError(_("Must not be earlier than 2000-01-01."), code="too_early")
        return parsed


def _now_or_past(value: datetime | None) -> datetime:
    """Default now; a little clock skew is tolerated, a time well in the future is not."""
    now = timezone.now()
    if value is None:
        return now
    if value > now + MAX_FUTURE:
        raise forms.ValidationError(_("Must not be more than 5 minutes in the future."), code="future")
    return value


class StrictIntegerField(forms.IntegerField):
    """A whole number: a JSON integer (3.0 counts as 3; not a bool, not 2.5, not a list or object) or ASCII digits
    in a string ("400"); "" and null are "not given", in JSON as in a form. Other scripts' digits ("٤٠٠",
    fullwidth "４００") are refused: they are not what an integer column or a range rule expects to compare.
    """

    def to_python(self, value):
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if ASCII_INTEGER.fullmatch(text):
                return int(text)
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class ApiForm(forms.Form):
    """A form fed with decoded JSON: values of the wrong JSON type are refused, not coerced."""

    text_fields: tuple[str, ...] = ()

    def __init__(self, data: dict, **kwargs):
        self.type_errors: dict[str, list[str]] = {}
        cleaned_input = {}
        for key, value in data.items():
            if key in self.base_fields:
                if value is not None and key in self.text_fields and not isinstance(value, str):
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        value = str(value)  # Zapier and friends send numbers for phone or postal code
                    else:
                        self.type_errors.setdefault(key, []).append(_("Must be a string."))
                        continue
                if problem := _text_problem(value):
                    self.type_errors.setdefault(key, []).append(problem)
                    continue
                cleaned_input[key] = value
        super().__init__(cleaned_input, **kwargs)
        self.raw = data

    def full_clean(self):
        super().full_clean()
        # A value of the wrong type was left out of the input: say why, not "This field is required."
        for key, errors in self.type_errors.items():
            self._errors[key] = self.error_class(errors)
            self.cleaned_data.pop(key, None)

    def field_errors(self) -> dict[str, list[str]]:
        # A field name that is not valid Unicode (a lone surrogate) is shown escaped: the answer must encode.
        return {
            ("body" if field == "__all__" else field.encode("utf-8", "backslashreplace").decode("utf-8")): [str(m) for m in messages]
            for field, messages in self.errors.items()
        }


def _char(max_length: int, help_text: str = "", required: bool = False) -> forms.CharField:
    return forms.CharField(max_length=max_length, required=required, strip=True, help_text=help_text)


class LeadIntakeForm(ApiForm):
    """POST /api/v1/leads/ and /api/v1/route/preview."""

    email = forms.EmailField(max_length=254, help_text="A valid address; the domain is IDNA-normalised (UTS #46) and lower-cased.")
    first_name = _char(100)
    last_name = _char(100)
    company = _char(200)
    job_title = _char(200)
    phone = _char(32)
    city = _char(100)
    company_size = StrictIntegerField(required=False, min_value=0, max_value=2_147_483_647, help_text="Number of employees.")
    industry = _char(100, 'e.g. "E-commerce", "Inne"')
    region = _char(100, 'Voivodeship / state, e.g. "Śląskie"; matched case- and diacritics-insensitively.')
    postal_code = _char(16, 'e.g. "40-001"')
    country = _char(2, 'ISO 3166-1 alpha-2; default "PL".')
    language = _char(2, 'ISO 639-1 of the form; default "pl".')
    source = forms.SlugField(max_length=64, required=False, help_text="demo_request, webinar, report_download, newsletter, contact_form, or any other.")
    message = forms.CharField(max_length=10_000, required=False, strip=True)
    submitted_at = IsoDateTimeField(required=False, help_text='When the person pressed "send"; default now; at most 5 minutes in the future.')
    external_id = _char(200, "The sender's own ID of this submission; a repeat from the same source returns the earlier lead.")

    text_fields = (
        "email", "first_name", "last_name", "company", "job_title", "phone", "city", "industry", "region",
        "postal_code", "country", "language", "source", "message", "submitted_at", "external_id",
    )  # fmt: skip

    def clean_email(self) -> str:
        # The domain as the free-mail / VIP lists and accounts are matched: UTS #46 (core.text.idna_domain).
        local, _at, domain = self.cleaned_data["email"].rpartition("@")
        try:
            email = f"{local}@{idna_domain(domain)}"
        except ValueError:
            raise forms.ValidationError(_("The e-mail domain is not a valid internationalised domain name."), code="invalid_domain") from None
        if len(email) > 254:
            raise forms.ValidationError(_("Enter a valid email address."), code="invalid")
        return email

    def clean_country(self) -> str:
        code = (self.cleaned_data.get("country") or "PL").upper()
        if code not in COUNTRIES:
            raise forms.ValidationError(_("Not an ISO 3166-1 alpha-2 country code."), code="invalid")
        return code

    def clean_language(self) -> str:
        code = (self.cleaned_data.get("language") or "pl").lower()
        if code not in LANGUAGES:
            raise forms.ValidationError(_("Not an ISO 639-1 language code."), code="invalid")
        return code

    def clean_submitted_at(self) -> datetime:
        return _now_or_past(self.cleaned_data.get("submitted_at"))

    def clean(self):
        cleaned = super().clean()
        extra = {key: value for key, value in self.raw.items() if key not in self.fields}
        if len(extra) > MAX_EXTRA_KEYS:
            self.add_error(None, _("At most %(n)d extra fields.") % {"n": MAX_EXTRA_KEYS})
        for key, value in extra.items():
            if problem := _text_problem(key) or _text_problem(value):
                self.errors.setdefault(key, self.error_class()).append(problem)
        cleaned["extra"] = extra
        return cleaned

    def lead_fields(self) -> dict:
        """The validated values, ready for Lead(...)."""
        data = dict(self.cleaned_data)
        data["external_id"] = data.get("external_id") or None
        for key in ("first_name", "last_name", "company", "job_title", "phone", "city", "industry", "region", "postal_code", "source", "message"):
            data[key] = data.get(key) or ""
        return data


class ActivityForm(ApiForm):
    """POST /api/v1/leads/<id>/activities/."""

    kind = forms.ChoiceField(choices=Activity.Kind.choices)
    at = IsoDateTimeField(required=False, help_text="Default: now; at most 5 minutes in the future.")
    rep = forms.EmailField(required=False, help_text="The rep's e-mail; default: the lead's owner.")
    outcome = forms.CharField(max_length=2000, required=False, strip=True)

    text_fields = ("kind", "at", "rep", "outcome")

    def clean_at(self) -> datetime:
        return _now_or_past(self.cleaned_data.get("at"))

    def clean(self):
        cleaned = super().clean()
        unknown = sorted(set(self.raw) - set(self.fields))
        for key in unknown:
            self.errors.setdefault(key, self.error_class()).append(_("Unknown field."))
        return cleaned
