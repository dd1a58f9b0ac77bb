"""The lead a log line is about, on every line of that lead's processing; and the JSON log format.

A context variable holds the id of the lead being processed; `LeadIdFilter`, set on the log handler,
copies it onto every record as `record.lead_id`, whichever logger (ours, Django's, django-q2's) wrote
the line. Context variables follow threads and asyncio tasks, so two requests handled at once by the
same process never see each other's lead.

    with lead_log_context(lead.pk):            # a block about one lead (the SLA sweep, per lead)
        ...

    @lead_log_scope                            # a function that learns the lead's id on the way
    def lead_create(...):
        ...
        lead_log_bind(lead.pk)                 # from here to the function's end (after-commit work too)

This module imports nothing from Django: gunicorn's config uses the formatter before Django starts.
"""

import contextvars
import functools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

_lead_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("leadrouter_lead_id", default=None)

F = TypeVar("F", bound=Callable[..., Any])


def lead_log_current() -> int | None:
    """The id of the lead the current code is processing, if any."""
    return _lead_id.get()


@contextmanager
def lead_log_context(lead_id: int | None) -> Iterator[None]:
    """Every log line written inside the block carries `lead_id`; the previous value comes back after."""
    token = _lead_id.set(lead_id)
    try:
        yield
    finally:
        _lead_id.reset(token)


def lead_log_bind(lead_id: int | None) -> None:
    """Set the lead for the rest of the enclosing `lead_log_scope` (use only inside one)."""
    _lead_id.set(lead_id)


def lead_log_scope(func: F) -> F:
    """Whatever lead the function binds is forgotten when it returns (or raises)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        token = _lead_id.set(_lead_id.get())
        try:
            return func(*args, **kwargs)
        finally:
            _lead_id.reset(token)

    return wrapper  # type: ignore[return-value]


class LeadIdFilter(logging.Filter):
    """Adds `lead_id` (None outside a lead's processing) to every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "lead_id"):  # an explicit `extra={"lead_id": ...}` wins
            record.lead_id = _lead_id.get()
        return True


class TextFormatter(logging.Formatter):
    """The development format: level, logger, the lead in brackets when there is one, the message."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s%(lead)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        lead_id = getattr(record, "lead_id", None)
        record.lead = f" [lead {lead_id}]" if lead_id is not None else ""
        return super().format(record)


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "lead_id", "lead", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, lead_id, then any `extra=`
    fields and the formatted exception. Never raises on odd values: they are logged as their repr."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "lead_id": getattr(record, "lead_id", None),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii keeps one line per record whatever the text (and lone surrogates cannot break the encoder).
        return json.dumps(entry, default=repr, ensure_ascii=True)


def logging_config(*, log_format: str, level: str) -> dict:
    """The `LOGGING` dict for Django (and gunicorn): one console handler with the lead filter."""
    formatter = "json" if log_format == "json" else "text"
    loggers: dict[str, dict] = {"django.db.backends": {"level": "WARNING"}}
    if formatter == "json":
        # Django's own "django" handlers print plain text when DEBUG; in JSON mode every line goes through ours.
        loggers["django"] = {"level": "INFO", "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"lead_id": {"()": "core.logcontext.LeadIdFilter"}},
        "formatters": {"json": {"()": "core.logcontext.JsonFormatter"}, "text": {"()": "core.logcontext.TextFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["lead_id"], "formatter": formatter}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
