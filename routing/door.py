"""The API's door: every answer under /api/ is JSON, whatever went wrong and wherever.

- `ApiDoorMiddleware` (right after SecurityMiddleware) reads chunked bodies before anything else touches
  them, answers a dropped database connection with 503 + Retry-After, and turns any non-JSON error page
  produced further in (Django's own 400/403/404/500 pages, also the DEBUG ones) into the API's error shape.
- `bad_request`, `permission_denied`, `page_not_found`, `server_error` (the root URLconf's handler400...500)
  and `csrf_failure` (CSRF_FAILURE_VIEW) answer JSON under /api/ and Django's usual pages elsewhere.

The API is token-authenticated (no cookies), so it is not exposed to CSRF: its views are csrf_exempt.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from routing.http_body import BodyUnreadable, is_chunked, read_chunked_body

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
RETRY_AFTER_UNAVAILABLE = 5  # seconds: a dropped connection is usually back at once (failover, restart)
DATABASE_DOWN = (OperationalError, InterfaceError)


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: ("body", _("Bad request.")),
        403: ("request", _("Forbidden.")),
        404: ("path", _("No such API endpoint.")),
        405: ("method", _("Method not allowed.")),
        411: ("body", _("Send a Content-Length header: this server cannot read chunked bodies.")),
        413: ("body", _("The body is too large.")),
        429: ("request", _("Too many requests.")),
        500: ("server", _("Internal error: nothing was stored. Try again later.")),
        503: ("server", _("Temporarily unavailable: nothing was stored. Try again shortly.")),
    }


def json_error(status: int, message: str | None = None, *, field: str | None = None) -> JsonResponse:
    default_field, default_message = _messages().get(status, ("request", _("Request failed.")))
    response = JsonResponse({"errors": {field or default_field: [message or default_message]}}, status=status, json_dumps_params={"ensure_ascii": False})
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return response


def unavailable() -> JsonResponse:
    return json_error(503)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class ApiDoorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api(request):
            return self.get_response(request)
        if is_chunked(request):
            try:
                read_chunked_body(request)
            except BodyUnreadable as exc:
                return json_error(exc.status, str(exc))
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            # An error page from further in (CSRF, a crash in DEBUG, a SuspiciousOperation...): same status, JSON.
            replaced = json_error(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    replaced[header] = response[header]
            return replaced
        return response

    def process_exception(self, request, exception):
        if is_api(request) and isinstance(exception, DATABASE_DOWN):
            # The transaction was rolled back with the connection; Django drops the broken connection at the
            # end of the request, so the client's retry gets a new one.
            logger.error("database unavailable during %s %s: %s", request.method, request.path, exception)
            return unavailable()
        return None


def bad_request(request, exception):
    if is_api(request):
        return json_error(400, str(exception) if isinstance(exception, BodyUnreadable) else None)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if is_api(request):
        return json_error(403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api(request):
        return json_error(404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api(request):
        exc = sys.exc_info()[1]
        return unavailable() if isinstance(exc, DATABASE_DOWN) else json_error(500)
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    if is_api(request):
        return json_error(403, _("Forbidden (CSRF check failed). The API takes a bearer token, not a session cookie."))
    return django_csrf_failure(request, reason=reason)
