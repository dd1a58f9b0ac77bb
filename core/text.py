"""Normalisation shared by intake, routing and imports: match data the way people type it.

Pure functions, no Django imports.
"""

import re
import unicodedata

# NFKD splits "ś" into "s" + combining accent, but "ł" has no decomposition: map it by hand.
_EXTRA = str.maketrans({"ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ß": "ss"})
_SPACES = re.compile(r"\s+")
_POSTAL = re.compile(r"^\s*(\d{2})\s*-?\s*(\d{3})\s*$")


def fold(text: object) -> str:
    """Lower-case, strip diacritics and squeeze spaces: "  Śląskie " -> "slaskie", "ŁÓDŹ" -> "lodz"."""
    if text is None:
        return ""
    s = str(text).translate(_EXTRA)
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return _SPACES.sub(" ", s).strip().casefold()


def postal_code_number(code: object) -> int | None:
    """Polish postal code as a number for range compares: "40-001" -> 40001; None if it is not one."""
    if code is None:
        return None
    m = _POSTAL.match(str(code))
    if not m:
        return None
    return int(m.group(1) + m.group(2))


def format_postal_code(number: int) -> str:
    """40001 -> "40-001"."""
    return f"{number // 1000:02d}-{number % 1000:03d}"


def email_domain(email: str) -> str:
    """The lower-cased part after the last "@"."""
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""


def email_key(email: str | None) -> str:
    """The whole address as repeat leads are matched by: stripped and lower-cased ("Stały@Firma.example" ->
    "stały@firma.example"). Python's lower(), not the database's case-insensitive compare, so every backend agrees."""
    return (email or "").strip().lower()
