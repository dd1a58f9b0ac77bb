"""Messages in the reader's language: a line of the "why" or of the history stored as a code with parameters and
rendered with gettext when somebody reads it, in the language active then (the rep's page, the manager's admin,
the API's `Accept-Language`), not in the language of the request that happened to route the lead.

    from core.messages import message as _

    line = _("Rule %(number)s %(name)s") % {"number": 3, "name": "“Demo”"}

`line` is a `Message`: a `str` (the text in the language active when it was made, so joining, comparing, slicing
and logging work as they did with gettext) that also knows its msgid and parameters. `str(line)` renders it again
in the active language; `dump(line)` gives its JSON (``{"m": msgid, "p": {params}}``) and `load` turns that back
into a Message. Parameters are plain data (names of people, rules, pools, values seen: never translated), nested
Messages, lists of them, or lazy gettext strings (a choice label), which become Messages. `join` and `+` keep
Messages: ``join("; ", lines)`` is a Message that renders each line in the reader's language.

Pure: no ORM, no app; the only Django import is translation. Rendering is total: a catalogue entry that no longer
fits its parameters falls back to the English msgid, then to the msgid itself, never an exception.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language, gettext

MSGID = "m"
PARAMS = "p"
JOINED = "j"
SEPARATOR = "s"
_PLAIN = (str, int, float, bool, type(None))
_UNKNOWN = object()  # "ask get_language()" (None is a language here: translation deactivated)


class Message(str):
    """A translatable line: `msgid` and `params` (None: none given), rendered in the active language by `str()`."""

    __slots__ = ("msgid", "params", "parts", "sep", "language")

    msgid: str | None
    params: Mapping[str, Any] | None
    parts: tuple[Any, ...] | None  # a join: the parts and the separator between them
    sep: str
    language: str | None

    @classmethod
    def _make(
        cls,
        text: str,
        *,
        msgid: str | None = None,
        params: Mapping[str, Any] | None = None,
        parts: tuple | None = None,
        sep: str = "",
        language: str | None | object = _UNKNOWN,
    ) -> Message:
        made = super().__new__(cls, text)
        made.msgid, made.params, made.parts, made.sep = msgid, params, parts, sep
        made.language = _language() if language is _UNKNOWN else language
        return made

    # ------------------------------------------------------------------ rendering

    def render(self, language: str | None | object = _UNKNOWN) -> str:
        """The text in the active language (a plain str); `language`: the active one, when the caller knows it."""
        if self.language == (_language() if language is _UNKNOWN else language):
            return str.__str__(self)
        if self.parts is not None:
            return self.sep.join(_text(part) for part in self.parts)
        return _formatted(self.msgid or "", self.params)

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return format(self.render(), spec)

    # ------------------------------------------------------------------ building

    def __mod__(self, params: object) -> Message | str:
        if self.msgid is None or self.params is not None or not isinstance(params, Mapping):
            return str.__mod__(self, params)  # a positional format: plain text, as gettext gave it
        params = dict(params)
        language = _language()  # once: asked through a thread-local, it costs more than the formatting
        translated = str.__str__(self) if self.language == language else _translated(self.msgid, language)
        return Message._make(str.__mod__(translated, {k: _arg(v, language) for k, v in params.items()}), msgid=self.msgid, params=params, language=language)

    def __add__(self, other: object) -> Message:
        if not isinstance(other, str):
            return NotImplemented
        return concat(self, other)

    def __radd__(self, other: object) -> Message:
        if not isinstance(other, str):
            return NotImplemented
        return concat(other, self)

    def __reduce__(self) -> tuple:
        return (load, (dump(self),))

    def __copy__(self) -> Message:
        return self

    def __deepcopy__(self, memo: dict) -> Message:
        return self


def message(msgid: str) -> Message:
    """gettext that remembers: the translation now, and the msgid to translate again for another reader."""
    language = _language()
    return Message._make(_translated(msgid, language) if msgid else "", msgid=msgid, language=language)


# The language pinned by `language_pinned` in this thread (_UNKNOWN: none, ask Django). Django's get_language() goes
# through asgiref's Local (a few microseconds); a routed lead's why asks it for every Message it builds and renders.
_PINNED = threading.local()


def _language() -> str | None:
    pinned = getattr(_PINNED, "language", _UNKNOWN)
    return get_language() if pinned is _UNKNOWN else pinned


@contextmanager
def language_pinned() -> Iterator[None]:
    """Within the block, Messages take the language active on entry without asking Django again: for code that
    builds many lines at once and does not switch language meanwhile (the engine writing a lead's why)."""
    previous = getattr(_PINNED, "language", _UNKNOWN)
    _PINNED.language = get_language() if previous is _UNKNOWN else previous
    try:
        yield
    finally:
        _PINNED.language = previous


# gettext's answer per (language, msgid): the catalogues do not change while a process runs, and a routed lead builds
# about a hundred Messages (one per condition checked), the what-if replay a hundred per replayed lead.
_TRANSLATED: dict[tuple[str | None, str], str] = {}
_TRANSLATED_MAX = 20_000


def _translated(msgid: str, language: str | None) -> str:
    key = (language, msgid)
    found = _TRANSLATED.get(key)
    if found is None:
        found = gettext(msgid)
        if len(_TRANSLATED) < _TRANSLATED_MAX:
            _TRANSLATED[key] = found
    return found


def join(separator: str, items: Iterable[object]) -> Message:
    """`separator.join(items)` that renders every Message among the items in the reader's language."""
    parts = tuple(items)
    return Message._make(separator.join(_arg(part) if isinstance(part, Message) else str(part) for part in parts), parts=parts, sep=separator)


def concat(*parts: object) -> Message:
    """`a + b + ...` of Messages and plain text, kept as a Message (a join with no separator)."""
    flat: list[object] = []
    for part in parts:
        if isinstance(part, Message) and part.parts is not None and part.sep == "":
            flat.extend(part.parts)
        else:
            flat.append(part)
    return join("", flat)


# ---------------------------------------------------------------------------------------------- JSON


def dump(value: object) -> object:
    """JSON-ready form of a Message ({"m": msgid, "p": {...}} or {"j": [...], "s": sep}); plain data as it is."""
    if isinstance(value, Message):
        if value.parts is not None:
            return {JOINED: [dump(part) for part in value.parts], SEPARATOR: value.sep}
        if value.msgid is None:
            return str.__str__(value)
        data: dict[str, object] = {MSGID: value.msgid}
        if value.params is not None:
            data[PARAMS] = {str(k): dump(v) for k, v in value.params.items()}
        return data
    if isinstance(value, Promise):
        return dump(_from_lazy(value))
    if isinstance(value, _PLAIN):
        return value if not isinstance(value, float) or value == value else None
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if isinstance(value, dict):  # a record holding lines, e.g. a score breakdown's {"points": 10, "why": Message}
        return {str(k): dump(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def load(data: object) -> object:
    """Back from `dump`: a Message rendered in the active language; old plain strings and other data as they are.
    Never raises."""
    if isinstance(data, dict):
        if isinstance(data.get(MSGID), str):
            raw = data.get(PARAMS)
            params = {str(k): load(v) for k, v in raw.items()} if isinstance(raw, dict) else None
            return Message._make(_formatted(data[MSGID], params), msgid=data[MSGID], params=params)
        if isinstance(data.get(JOINED), list):
            return join(str(data.get(SEPARATOR) or ""), [load(part) for part in data[JOINED]])
        return {k: load(v) for k, v in data.items()}
    if isinstance(data, list):
        return [load(item) for item in data]
    return data


def dump_lines(lines: Iterable[object]) -> list[object]:
    """A list of lines (Messages or text) as stored."""
    return [dump(line) for line in lines]


def render(value: object) -> str:
    """One stored or live line as text in the active language: a Message, its JSON, or an old plain string."""
    if isinstance(value, dict | list) and not isinstance(value, Message):
        value = load(value)
    if isinstance(value, list):
        return ", ".join(render(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {render(v)}" for k, v in value.items())  # not a message: show what it holds
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------- internals


def _from_lazy(value: Promise) -> object:
    """A gettext_lazy string (a model choice's label) as a Message; any other lazy value as its text."""
    try:
        func, args = value.__reduce__()[1][:2]
    except Exception:  # noqa: BLE001 - not Django's proxy as we know it
        return str(value)
    if getattr(func, "__name__", "") == "gettext" and len(args) == 1 and isinstance(args[0], str):
        return message(args[0])
    return str(value)


def _arg(value: object, language: str | None | object = None) -> object:
    """A parameter as `%` gets it: Messages, lists and lazy strings as text in the active language (`language`,
    when the caller has asked for it already)."""
    if isinstance(value, Message):
        return value.render(language) if language is not None else value.render()
    if isinstance(value, list | tuple):
        return ", ".join(str(_arg(item, language)) for item in value)
    if isinstance(value, Promise):
        return str(value)
    return value


def _text(part: object) -> str:
    return part.render() if isinstance(part, Message) else str(part)


def _formatted(msgid: str, params: Mapping[str, Any] | None) -> str:
    """gettext(msgid) % params in the active language; the English msgid when the translation does not fit."""
    translated = gettext(msgid) if msgid else ""
    if params is None:
        return translated
    args = {k: _arg(v) for k, v in params.items()}
    for text in (translated, msgid):
        try:
            return text % args
        except (KeyError, ValueError, TypeError):
            continue
    return msgid
