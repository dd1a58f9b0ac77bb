"""The floor of the HTTP intake benchmark (tests/test_bench_http.py): the least a Django view can do for a lead.

`POST /bench/floor/` (served only with `benchmarks.settings`, never by the production URLconf) stores one
`routing.models.Lead` row from the JSON body, for the same intake source as the real intake (the Bearer token),
and answers 201 with the new row's id. It runs in the same gunicorn, through the same middleware, on the same
database connection settings as `POST /api/v1/leads/`, so what intake costs above it is intake's own work:
validation, routing, the SLA clock, the rule's actions and notifications, the answer.

On purpose it does nothing more: one INSERT in autocommit (one round trip, one commit). The token's source is
looked up once per process and then kept (a floor must not pay what intake could also cache); unknown tokens are
refused with 401 so the benchmark cannot measure the wrong source by accident. Its answers are for the benchmark,
not for people: no translated messages.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from routing.models import IntakeSource, Lead
from routing.services.intake import token_hash

_source_ids: dict[str, int] = {}  # token hash -> intake source id, per process


def _source_id(request: HttpRequest) -> int | None:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    digest = token_hash(token.strip())
    if digest not in _source_ids:
        found = IntakeSource.objects.filter(token_hash=digest, revoked_at__isnull=True).values_list("pk", flat=True).first()
        if found is None:
            return None
        _source_ids[digest] = found
    return _source_ids[digest]


@csrf_exempt
@require_POST
def floor(request: HttpRequest) -> JsonResponse:
    source_id = _source_id(request)
    if source_id is None:
        return JsonResponse({"error": "token"}, status=401)
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "body"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("email"), str) or "@" not in data["email"]:
        return JsonResponse({"error": "email"}, status=400)
    now = timezone.now()
    email = data["email"][:254]
    lead = Lead(
        intake_source_id=source_id,
        email=email,
        email_domain=email.rpartition("@")[2].lower()[:253],  # no IDNA, no folding: that is intake's work
        email_key=email.lower(),
        company=str(data.get("company") or "")[:200],
        source=str(data.get("source") or "")[:64],
        submitted_at=now,
        received_at=now,
    )
    lead.save(force_insert=True)
    return JsonResponse({"id": lead.pk}, status=201)
