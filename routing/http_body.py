"""Reading an API request's body safely: chunked bodies bounded, form bodies Django cannot parse turned into a reason.

Django reads a body by its Content-Length; a chunked request (``Transfer-Encoding: chunked``) has none, so
Django sees an empty body. A server that de-chunks the body and marks the end of the input (gunicorn, uWSGI
and mod_wsgi set ``wsgi.input_terminated``) lets us read it to its end: at most one byte past the limit, so a
huge body costs no more than the limit. A server that does not (Django's runserver) would make that read hang,
so such a request is asked for a length (411).
"""

from io import BytesIO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.handlers.wsgi import LimitedStream
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _

READ_SIZE = 64 * 1024


class BodyUnreadable(ValueError):
    """The body cannot be read at all; `status` is the HTTP answer (400, 411 or 413)."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


def body_limit() -> int:
    return settings.INTAKE_MAX_BODY_BYTES


def too_big_message() -> str:
    return _("The body must not be larger than %(limit)d bytes.") % {"limit": body_limit()}


def is_chunked(request) -> bool:
    """Whether the body has no length of its own (chunked) and the server gave us none."""
    coding = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in coding.lower() and not request.META.get("CONTENT_LENGTH")


def read_chunked_body(request) -> None:
    """Read a chunked body (at most limit + 1 bytes) and hand it to Django as if it had a Content-Length.

    Raises BodyUnreadable(413) past the limit, BodyUnreadable(411) when the server cannot tell where the body
    ends. Afterwards `request.body`, `request.POST` and `request.read()` see the body as usual.
    """
    if not request.META.get("wsgi.input_terminated"):
        raise BodyUnreadable(_("Send a Content-Length header: this server cannot read chunked bodies."), status=411)
    limit = body_limit()
    stream = request.META["wsgi.input"]
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(READ_SIZE, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise BodyUnreadable(too_big_message(), status=413)
    body = b"".join(parts)
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(BytesIO(body), len(body))


def form_fields(request):
    """`request.POST`, or BodyUnreadable with a reason when Django cannot parse the form body."""
    try:
        return request.POST
    except (TooManyFieldsSent, TooManyFilesSent):
        raise BodyUnreadable(_("Too many fields: at most %(n)d.") % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}) from None
    except RequestDataTooBig:
        raise BodyUnreadable(too_big_message(), status=413) from None
    except MultiPartParserError:
        raise BodyUnreadable(_("The multipart body cannot be read: check its boundary.")) from None
    except (UnicodeDecodeError, LookupError, ValueError):
        raise BodyUnreadable(_("The form body cannot be decoded.")) from None
