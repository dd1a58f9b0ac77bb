"""Sending one outbox message on its channel: e-mail, Slack, Teams, an SMS gateway or a signed JSON webhook.

Outbound HTTP goes through `requests` only, to http(s) URLs only, with connect/read timeouts and without
following redirects. Failures become `DeliveryError`s whose text is safe to store and log: channel URLs,
tokens and secrets are redacted (`redact`), and exception texts are never stored as they are, because
urllib3 puts the URL path (a Slack webhook's secret) into them.
"""

import hashlib
import hmac
import json
import logging
import re
import smtplib
import time
from urllib.parse import quote_plus, urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template import Context, Template, TemplateSyntaxError

from core.text import ascii_domain
from notifications.messages import priority_label
from notifications.models import Channel, OutboxMessage

REDACTED = "[redacted]"
SIGNATURE_HEADER = "X-Leadrouter-Signature"
TIMESTAMP_HEADER = "X-Leadrouter-Timestamp"
DELIVERY_HEADER = "X-Leadrouter-Delivery"
USER_AGENT = "Leadrouter-notifications/1"
COLOURS = {"critical": "#D00000", "medium": "#F2A900", "low": "#2EB67D"}
DEFAULT_COLOUR = "#439FE0"
SMS_MAX_LENGTH = 459  # three concatenated GSM-7 segments
# Option names whose values are secrets wherever they appear in a channel's options.
SECRET_OPTION = re.compile(r"token|secret|password|passwd|key|auth|signature", re.IGNORECASE)
URL_PATH = re.compile(r"(https?://[^/\s'\"<>]+)/[^\s'\"<>]*", re.IGNORECASE)
URLLIB3_URL = re.compile(r"(url: )\S+")
REQUEST_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ (HTTP/[\d.]+)"')
TRANSIENT_HTTP = {408, 425, 429}
logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A failed attempt. `permanent`: retrying cannot help (4xx, bad configuration); else retry later."""

    def __init__(self, reason: str, *, permanent: bool, status_code: int | None = None, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.status_code = status_code
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------- hand-over


class _HandOver:
    """The messages one transaction wrote; after its commit they go to the cluster in ONE task."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self) -> None:
        from notifications.tasks import outbox_enqueue  # the tasks module imports this one

        outbox_enqueue(message_ids=self.ids, together=True)


def outbox_hand_over(message_id: int) -> None:
    """Send the message after the caller's transaction commits, together with the transaction's other messages: one
    enqueue per transaction (per lead at intake), not one per message. Outside a transaction: at once."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        from notifications.tasks import outbox_enqueue

        outbox_enqueue(message_ids=[message_id])
        return
    batch = getattr(connection, "_outbox_hand_over", None)
    # The batch is the transaction's while its after-commit hook is still registered: a rollback (of the
    # transaction, or of the savepoint the batch began in) drops the hook, and the next message starts a new one.
    if batch is None or not any(hook is batch for _sids, hook, _robust in connection.run_on_commit):
        batch = connection._outbox_hand_over = _HandOver()
        transaction.on_commit(batch, robust=True)
    batch.ids.append(message_id)


def outbox_hand_over_now() -> None:
    """With django-q2's ORM broker on this database, write the transaction's one task row NOW, inside the
    transaction: it commits (or rolls back) with the messages, and the request needs no commit of its own for it.
    Intake calls this last. With another broker (Redis) or in sync mode (tests run tasks at once) nothing happens
    here and the task is enqueued after commit as usual."""
    from django_q.conf import Conf

    connection = transaction.get_connection()
    if not connection.in_atomic_block or Conf.SYNC or getattr(Conf, "ORM", None) != connection.alias or not getattr(Conf, "ORM", None):
        return
    batch = getattr(connection, "_outbox_hand_over", None)
    if batch is None or not batch.ids or not any(hook is batch for _sids, hook, _robust in connection.run_on_commit):
        return
    ids, batch.ids = batch.ids, []  # its after-commit hook now finds nothing left to enqueue
    from notifications.tasks import outbox_enqueue

    outbox_enqueue(message_ids=ids, together=True)


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds (`NOTIFICATIONS_HTTP_TIMEOUT`); a hanging receiver costs a worker at most about this long."""
    connect, read = settings.NOTIFICATIONS_HTTP_TIMEOUT
    return float(connect), float(read)


def channel_secrets(channel: Channel | None) -> list[str]:
    """Every string of the channel that must not appear in logs or stored errors, longest first."""
    if channel is None:
        return []
    found = [channel.secret]
    if channel.url:
        parts = urlsplit(channel.url)
        found += [channel.url, parts.path if len(parts.path) > 1 else "", parts.query, parts.password or "", parts.username or ""]
        found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    found += [str(value) for name, value in channel.config.items() if SECRET_OPTION.search(name) and value]
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: list[str] = ()) -> str:
    """The text with the given secrets and every URL path removed."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = URL_PATH.sub(lambda m: f"{m.group(1)}/{REDACTED}", text)
    text = REQUEST_LINE.sub(lambda m: f'"{m.group(1)} {REDACTED} {m.group(2)}"', text)
    return URLLIB3_URL.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class UrlRedactingFilter(logging.Filter):
    """urllib3 logs every request line at DEBUG, path included, and a webhook's path is its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging system's business, not ours
            return True
        record.msg, record.args = redact(message), ()
        return True


def deliver(message: OutboxMessage) -> int | None:
    """Send the message once; returns the HTTP status (None for e-mail). Raises DeliveryError."""
    channel = message.channel
    if channel is not None and not channel.is_active:
        raise DeliveryError("the channel is switched off", permanent=True)
    if channel is None or channel.kind == Channel.Kind.EMAIL:
        return email_send(message)
    if not channel.url:
        # The demo without --notify-url, or a channel not configured yet: people still see the message.
        return email_send(message, via=channel)
    sender = {
        Channel.Kind.SLACK: slack_send,
        Channel.Kind.TEAMS: teams_send,
        Channel.Kind.SMS: sms_send,
        Channel.Kind.WEBHOOK: webhook_send,
    }.get(channel.kind)
    if sender is None:
        raise DeliveryError(f"unknown channel kind {channel.kind!r}", permanent=True)
    return sender(message)


# ---------------------------------------------------------------------------------------------- e-mail


def _email_recipient(message: OutboxMessage, via: Channel | None) -> str:
    if "@" in message.recipient:
        return message.recipient
    if rep_email := message.payload.get("rep_email"):
        return rep_email
    if via is not None and (email := via.config.get("email")):
        return email
    return settings.NOTIFICATIONS_FALLBACK_EMAIL or settings.DEFAULT_FROM_EMAIL


def _ascii_address(address: str) -> str:
    """An IDN domain as its A-label: Django would encode it with IDNA 2003, which maps "straße.de" to "strasse.de"."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}" if at and not domain.isascii() else address


def email_send(message: OutboxMessage, *, via: Channel | None = None) -> None:
    """Through Django's e-mail backend (SMTP by EMAIL_URL, the console in development)."""
    channel = message.channel
    subject = message.subject
    if via is not None:
        subject = f"[{via.name}] {subject}"
    from_email = (channel.config.get("from_email") if channel else None) or settings.DEFAULT_FROM_EMAIL
    # A message with an HTML part in its payload (the weekly digest) goes as text + HTML alternative.
    html = message.payload.get("html") if isinstance(message.payload, dict) else None
    email = (EmailMultiAlternatives if html else EmailMessage)(
        subject=subject.replace("\n", " ")[:300],
        body=message.body,
        from_email=from_email,
        to=[_ascii_address(_email_recipient(message, via))],
        headers={DELIVERY_HEADER: message.key},
    )
    if html:
        email.attach_alternative(html, "text/html")
    password = settings.EMAIL_HOST_PASSWORD
    secrets = [password] if password else []
    try:
        # An SMTP server that hangs must not hold the worker forever (Django's default is no timeout).
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT or 20)
        email.connection = connection
        email.send(fail_silently=False)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
        raise DeliveryError(redact(f"the mail server refused the address: {error}", secrets), permanent=True) from None
    except smtplib.SMTPResponseException as error:
        permanent = 500 <= error.smtp_code < 600
        raise DeliveryError(redact(f"mail server answered {error.smtp_code}: {error.smtp_error!r}", secrets), permanent=permanent) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(redact(f"mail server unreachable: {type(error).__name__}: {error}", secrets), permanent=False) from None
    return None


# ---------------------------------------------------------------------------------------------- HTTP


def http_send(channel: Channel, *, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> int:
    """One HTTP request; 2xx returns the status, anything else raises a redacted DeliveryError."""
    secrets = channel_secrets(channel)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise DeliveryError("the channel URL must start with http:// or https://", permanent=True)
    try:
        with requests.request(
            method,
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=http_timeout(),
            allow_redirects=False,  # a redirect could carry the message (and its signature) somewhere else
            stream=True,
        ) as response:
            snippet = next(response.iter_content(300), b"") if response.status_code >= 300 else b""
            status = response.status_code
            reason = response.reason or ""
            retry_after = response.headers.get("Retry-After", "")
    except requests.exceptions.ConnectTimeout:
        raise DeliveryError(f"no connection within {http_timeout()[0]:g} s (connect timeout)", permanent=False) from None
    except requests.exceptions.ReadTimeout:
        raise DeliveryError(f"no answer within {http_timeout()[1]:g} s (read timeout)", permanent=False) from None
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise DeliveryError("the channel URL is not valid", permanent=True) from None
    except requests.exceptions.RequestException as error:
        # Only the errno text: the exception's own text names the URL.
        match = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(error))
        detail = match.group(0) if match else type(error).__name__
        raise DeliveryError(redact(f"connection failed: {detail}", secrets), permanent=False) from None

    if 200 <= status < 300:
        return status
    text = snippet.decode("utf-8", "replace").strip().replace("\n", " ")
    reason_text = redact(f"HTTP {status} {reason}" + (f": {text}" if text else ""), secrets)
    if status >= 500 or status in TRANSIENT_HTTP:
        seconds = int(retry_after) if retry_after.isascii() and retry_after.isdigit() else None
        raise DeliveryError(reason_text, permanent=False, status_code=status, retry_after=seconds)
    if 300 <= status < 400:
        raise DeliveryError(f"{reason_text} (redirects are not followed: check the channel URL)", permanent=True, status_code=status)
    raise DeliveryError(reason_text, permanent=True, status_code=status)


def _json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: OutboxMessage) -> dict:
    """Block Kit: the headline with the rep's mention on top, the rest in an attachment coloured by priority."""
    payload = message.payload
    priority = payload.get("priority") or ""
    mention = f"<@{payload['mention']}> " if payload.get("mention") else ""
    title = slack_escape(payload.get("title") or message.subject)
    url = payload.get("lead_url")
    headline = f"*<{url}|{title}>*" if url else f"*{title}*"
    if priority == "critical":
        headline = f":rotating_light: {headline}"
    details = [{"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(payload.get("text") or message.body)[:2900] or " "}}]
    facts = payload.get("facts") or []
    if facts:
        details.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{slack_escape(k)}*\n{slack_escape(v)[:500]}"} for k, v in facts[:10]]})
    if priority:
        details.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Priority: *{payload.get('priority_label') or priority_label(priority)}*"}]}
        )
    if url:
        details.append({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open the lead"}, "url": url}]})
    return {
        "text": f"{mention}{title}",  # the notification preview, and what clients without Block Kit show
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{mention}{headline}"}}],
        "attachments": [{"color": COLOURS.get(priority, DEFAULT_COLOUR), "fallback": title, "blocks": details}],
    }


def slack_send(message: OutboxMessage) -> int:
    channel = message.channel
    return http_send(channel, method="POST", url=channel.url, body=_json(slack_body(message)), headers={"Content-Type": "application/json"})


_TEAMS_MARKDOWN = re.compile(r"([\\`*_\[\](){}#~|!])")


def teams_markdown_escape(text: str) -> str:
    """Lead text for a Markdown + HTML field of a connector card: HTML-escaped, Markdown characters backslashed."""
    return _TEAMS_MARKDOWN.sub(r"\\\1", str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _plain_block(*runs: dict) -> dict:
    """A RichTextBlock of TextRuns: Adaptive Cards render TextRun text as it is, never as Markdown."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", **run} for run in runs]}


def teams_body(message: OutboxMessage, *, card: str = "adaptive") -> dict:
    """An Adaptive Card (Teams Workflows webhooks); `card="messagecard"` for the older Office 365 connectors."""
    payload = message.payload
    priority = payload.get("priority") or ""
    title = payload.get("title") or message.subject
    text = payload.get("text") or message.body
    url = payload.get("lead_url")
    facts = payload.get("facts") or []
    if card == "messagecard":
        # Office 365 connector cards render Markdown and some HTML in text and facts: escape both.
        body = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": COLOURS.get(priority, DEFAULT_COLOUR).lstrip("#"),
            "title": title,
            "text": teams_markdown_escape(text),
            "sections": [{"facts": [{"name": teams_markdown_escape(k), "value": teams_markdown_escape(v)} for k, v in facts]}] if facts else [],
        }
        if url:
            body["potentialAction"] = [{"@type": "OpenUri", "name": "Open the lead", "targets": [{"os": "default", "uri": url}]}]
        return body
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        # Lead text goes in TextRuns, which Teams shows as plain text: a TextBlock or a FactSet renders Markdown,
        # where a prospect could plant a link with fake text ("[Open the lead](http://evil.example)").
        "body": [
            _plain_block(
                {"text": title, "weight": "Bolder", "size": "Medium", "color": "Attention" if priority == "critical" else "Default"}
            ),
            _plain_block({"text": text or " "}),
        ],
    }
    if facts:
        content["body"].extend(_plain_block({"text": f"{k}: ", "weight": "Bolder"}, {"text": v}) for k, v in facts)
    if priority:
        content["body"].append(
            {"type": "TextBlock", "text": f"Priority: {payload.get('priority_label') or priority_label(priority)}", "isSubtle": True, "wrap": True}
        )
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open the lead", "url": url}]
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}]}


def teams_send(message: OutboxMessage) -> int:
    channel = message.channel
    body = teams_body(message, card=channel.config.get("card", "adaptive"))
    return http_send(channel, method="POST", url=channel.url, body=_json(body), headers={"Content-Type": "application/json"})


DEFAULT_SMS_TEMPLATE = '{"to": "{{ to }}", "text": "{{ text }}"}'


def sms_text(message: OutboxMessage, *, max_length: int = SMS_MAX_LENGTH) -> str:
    payload = message.payload
    text = " ".join(part for part in (payload.get("title") or message.subject, payload.get("lead_url") or "") if part)
    return text if len(text) <= max_length else text[: max_length - 1] + "…"


def sms_request(message: OutboxMessage) -> tuple[str, str, bytes | None, dict[str, str]]:
    """The gateway request from the channel's options: (method, url, body, headers).

    Options: method (POST, PUT or GET), body_template (a Django template with {{ to }}, {{ text }},
    {{ sender }}; for GET it becomes the query string), content_type (default: JSON when the template looks
    like JSON, else form-encoded), auth_header (header name for the channel's secret, default
    Authorization), sender, max_length. Values are escaped for the content type, so a quote in the text
    cannot break the JSON.
    """
    channel = message.channel
    config = channel.config
    method = str(config.get("method") or "POST").upper()
    if method not in ("POST", "PUT", "GET"):
        raise DeliveryError(f"SMS gateway method {method!r} is not supported (POST, PUT or GET)", permanent=True)
    template_text = config.get("body_template") or DEFAULT_SMS_TEMPLATE
    is_json = template_text.lstrip().startswith(("{", "["))
    content_type = config.get("content_type") or ("application/json" if is_json and method != "GET" else "application/x-www-form-urlencoded")
    raw = {"to": message.recipient, "text": sms_text(message, max_length=int(config.get("max_length") or SMS_MAX_LENGTH)), "sender": config.get("sender", "")}
    if method != "GET" and "json" in content_type:
        values = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in raw.items()}
    elif method == "GET" or "x-www-form-urlencoded" in content_type:
        values = {k: quote_plus(v) for k, v in raw.items()}
    else:
        values = raw
    try:
        rendered = Template(template_text).render(Context(values, autoescape=False)).strip()
    except TemplateSyntaxError:
        raise DeliveryError("the SMS gateway body template has a syntax error", permanent=True) from None
    headers: dict[str, str] = {}
    if channel.secret:
        headers[config.get("auth_header") or "Authorization"] = channel.secret
    headers[DELIVERY_HEADER] = message.key
    if method == "GET":
        url = channel.url + ("&" if "?" in channel.url else "?") + rendered
        return method, url, None, headers
    if "json" in content_type:
        try:
            json.loads(rendered)
        except ValueError:
            raise DeliveryError("the SMS gateway body template does not give valid JSON", permanent=True) from None
    headers["Content-Type"] = content_type if "charset" in content_type else f"{content_type}; charset=utf-8"
    return method, channel.url, rendered.encode("utf-8"), headers


def sms_send(message: OutboxMessage) -> int:
    if not message.recipient:
        raise DeliveryError("no phone number to send the SMS to", permanent=True)
    method, url, body, headers = sms_request(message)
    return http_send(message.channel, method=method, url=url, body=body, headers=headers)


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>", hex, prefixed "sha256=" (receivers recompute and compare)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_body(message: OutboxMessage) -> dict:
    payload = message.payload
    return payload.get("webhook") or {
        "event": "notification",
        "title": payload.get("title") or message.subject,
        "text": payload.get("text") or message.body,
        "priority": payload.get("priority") or None,
        "lead_url": payload.get("lead_url"),
    }


def webhook_send(message: OutboxMessage, *, now: float | None = None) -> int:
    channel = message.channel
    body = _json(webhook_body(message))
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: message.key}
    if channel.secret:
        timestamp = str(int(now if now is not None else time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = webhook_signature(secret=channel.secret, timestamp=timestamp, body=body)
    return http_send(channel, method="POST", url=channel.url, body=body, headers=headers)
