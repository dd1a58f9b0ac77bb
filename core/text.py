"""Normalisation shared by intake, routing and imports: match data the way people type it.

Pure functions, no Django imports.
"""

import re
import unicodedata

import idna

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


def idna_domain(domain: str) -> str:
    """A domain as routing compares it: IDNA-normalised per UTS #46, lower-case, as Unicode (the U-label form).

    "ＧＭＡＩＬ.com", "gm\u200bail.com" (zero-width space), "gm\u00adail.com" (soft hyphen), "GMAIL.COM." and
    "gmail。com" are all "gmail.com"; "ŻABKA.pl" and "xn--abka-99a.pl" are both "żabka.pl". Non-transitional
    processing (IDNA 2008): "straße.de" stays "straße.de", not "strasse.de". Raises ValueError for a name
    that is no valid internationalised host name (a joiner out of context, "_", a space, an empty label...).
    An address literal ("[192.0.2.1]") is only lower-cased.
    """
    text = domain.strip()
    if not text or (text.startswith("[") and text.endswith("]")):
        return text.lower()
    try:
        ascii_form = idna.encode(text, uts46=True, transitional=False, std3_rules=True)
        return idna.decode(ascii_form).rstrip(".")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None


def ascii_domain(domain: str) -> str:
    """The A-label form ("żabka.pl" -> "xn--abka-99a.pl"), what DNS and mail servers need; unchanged if it is no IDN."""
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return domain


def email_domain(email: str) -> str:
    """The part after the last "@", normalised as `idna_domain` does (lower-cased only if it cannot be)."""
    if "@" not in email:
        return ""
    domain = email.rsplit("@", 1)[-1]
    try:
        return idna_domain(domain)
    except ValueError:
        return domain.strip().lower()


def email_key(email: str | None) -> str:
    """The whole address as repeat leads are matched by: the local part lower-cased, the domain as `email_domain`
    gives it ("Stały@Firma.example" -> "stały@firma.example"). Python's lower(), not the database's
    case-insensitive compare, so every backend agrees."""
    email = (email or "").strip()
    local, at, _domain = email.rpartition("@")
    return f"{local.lower()}@{email_domain(email)}" if at else email.lower()
