"""The intake API (docs/api.md): thin handlers that parse, call one service or selector, render."""

import functools

from django.conf import settings
from django.http import JsonResponse as DjangoJsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from flows.forms import ActivityForm, BodyError, LeadIntakeForm, body_parse
from flows.selectors import lead_preview
from flows.services.leads import ActivityRefused, activity_log, lead_create
from routing.honeypot import decoy_representation, honeypot_filled, without_honeypot
from routing.http_body import BodyUnreadable, form_fields
from routing.models import Lead
from routing.ratelimit import token_rate_limited
from routing.selectors import intake_source_for_token, lead_get, lead_representation, leads_by_email
from routing.services.intake import intake_source_touch, lead_normalise

PAGE_SIZE = 50


class JsonResponse(DjangoJsonResponse):
    """UTF-8 JSON as people read it: "Śląskie", not "\\u015al\\u0105skie"."""

    def __init__(self, data, **kwargs):
        kwargs.setdefault("json_dumps_params", {"ensure_ascii": False})
        super().__init__(data, **kwargs)


def errors(status: int, **fields: list[str]) -> JsonResponse:
    return JsonResponse({"errors": fields}, status=status)


def api_view(*methods: str, auth: bool = True):
    """JSON errors for wrong methods, bodies over the limit and missing/wrong/revoked tokens."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = errors(405, method=[_("Method %(method)s is not allowed.") % {"method": request.method}])
                response["Allow"] = ", ".join(methods)
                return response
            if auth:
                header = request.headers.get("Authorization", "")
                scheme, _sep, token = header.partition(" ")
                source = intake_source_for_token(raw_token=token.strip()) if scheme.lower() == "bearer" else None
                if source is None:
                    message = _("Missing token: send Authorization: Bearer <token>.") if not header else _("Invalid or revoked token.")
                    response = errors(401, auth=[message])
                    response["WWW-Authenticate"] = 'Bearer realm="leadrouter"'
                    return response
                request.intake_source = source
                if too_many := token_rate_limited(source):
                    return too_many
                intake_source_touch(source=source, now=timezone.now())  # last_used_at, at most one write a minute
            if request.method == "POST":
                too_big = _body_too_big(request)
                if too_big:
                    return too_big
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _body_too_big(request) -> JsonResponse | None:
    limit = settings.INTAKE_MAX_BODY_BYTES
    message = [_("The body must not be larger than %(limit)d bytes.") % {"limit": limit}]
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return errors(400, body=[_("Bad Content-Length header.")])
    if declared > limit:
        return errors(413, body=message)
    # Chunked bodies carry no length: read at most one byte past the limit.
    request._body = request.read(limit + 1)
    if len(request._body) > limit:
        return errors(413, body=message)
    return None


def _parsed_body(request) -> dict:
    content_type = request.content_type or "application/json"
    try:
        post = form_fields(request) if content_type in ("application/x-www-form-urlencoded", "multipart/form-data") else {}
    except BodyUnreadable as exc:
        raise BodyError(str(exc)) from exc
    return body_parse(raw=request.body, content_type=content_type, post=post)


def _intake_form(request) -> tuple[LeadIntakeForm | None, JsonResponse | None]:
    try:
        data = _parsed_body(request)
    except BodyError as exc:
        return None, errors(400, body=[str(exc)])
    form = LeadIntakeForm(data)
    if not form.is_valid():
        return None, JsonResponse({"errors": form.field_errors()}, status=400)
    return form, None


@api_view("GET", "POST")
def leads(request):
    """POST: take in and route one lead. GET: leads by e-mail, newest first."""
    if request.method == "GET":
        return _leads_list(request)
    form, failure = _intake_form(request)
    if failure:
        return failure
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key and (len(key) > 200 or not key.isprintable()):
        return errors(400, **{"Idempotency-Key": [_("At most 200 printable characters.")]})
    if honeypot_filled(request.intake_source, form.raw):
        return JsonResponse(decoy_representation(request.intake_source, form.lead_fields()), status=201)
    fields = without_honeypot(request.intake_source, form.lead_fields())
    lead, created = lead_create(source=request.intake_source, fields=fields, idempotency_key=key)
    if not created:  # a retry: the earlier lead as stored; a new one is answered from memory (no read-back)
        lead = lead_get(lead_id=lead.pk)
    return JsonResponse(lead_representation(lead), status=201 if created else 200)


def _leads_list(request):
    before = request.GET.get("before")
    if before is not None and not (before.isascii() and before.isdigit() and len(before) < 19):
        return errors(400, before=[_("Must be a lead id.")])
    email = request.GET.get("email")
    if email is not None and (len(email) > 254 or not email.isprintable()):
        return errors(400, email=[_("Enter a valid email address.")])
    leads = leads_by_email(email=email, before_id=int(before) if before else None, source=_readable_by(request))
    page = list(leads[: PAGE_SIZE + 1])
    next_url = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        params = request.GET.copy()
        params["before"] = str(page[-1].pk)
        next_url = request.build_absolute_uri(f"{reverse('api-leads')}?{params.urlencode()}")
    return JsonResponse({"results": [lead_representation(lead) for lead in page], "next": next_url})


def _readable_by(request):
    """A source's token reads and updates the leads it sent in, unless it may read every source's leads."""
    return None if request.intake_source.reads_all_leads else request.intake_source


@api_view("GET")
def lead_detail(request, lead_id: int):
    lead = lead_get(lead_id=lead_id, source=_readable_by(request))
    if lead is None:
        return errors(404, lead=[_("No lead with this id.")])
    return JsonResponse(lead_representation(lead))


@api_view("POST")
def route_preview(request):
    """What would happen to this lead now: nothing is stored, no round-robin pointer moves."""
    form, failure = _intake_form(request)
    if failure:
        return failure
    now = timezone.now()
    fields = form.lead_fields()
    lead = lead_normalise(Lead(intake_source=request.intake_source, **fields))
    lead.received_at = now
    lead_preview(lead=lead, now=now)
    return JsonResponse(lead_representation(lead, preview=True))


@api_view("POST")
def activities(request, lead_id: int):
    lead = lead_get(lead_id=lead_id, source=_readable_by(request))
    if lead is None:
        return errors(404, lead=[_("No lead with this id.")])
    try:
        data = _parsed_body(request)
    except BodyError as exc:
        return errors(400, body=[str(exc)])
    form = ActivityForm(data)
    if not form.is_valid():
        return JsonResponse({"errors": form.field_errors()}, status=400)
    try:
        activity = activity_log(
            lead=lead, kind=form.cleaned_data["kind"], at=form.cleaned_data["at"], rep_email=form.cleaned_data.get("rep") or None,
            outcome=form.cleaned_data.get("outcome") or "",
        )
    except ActivityRefused as exc:
        return errors(400, **{exc.field: [exc.message]})
    return JsonResponse(
        {
            "id": activity.pk,
            "kind": activity.kind,
            "at": activity.at.isoformat(),
            "rep": activity.rep.email if activity.rep_id else None,
            "outcome": activity.outcome,
            "lead": lead_representation(lead_get(lead_id=lead.pk)),
        },
        status=201,
    )


@api_view("GET", auth=False)
def openapi(request):
    from flows.openapi import openapi_document

    return JsonResponse(openapi_document(base_url=request.build_absolute_uri("/")))


@csrf_exempt
def not_found(request, *args, **kwargs):
    return errors(404, path=[_("No such API endpoint.")])
