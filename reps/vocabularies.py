"""Vocabularies: a lead's region and industry read as the canonical term, however they were typed.

"Śląskie", "slaskie", "Śląsk", "woj. śląskie", "Silesian Voivodeship" and "PL-SL" are all the region "Śląskie";
"Sklep internetowy" and "eCommerce" are the industry "E-commerce". The terms and their spellings are data the
manager edits in the admin (reps.models.VocabularyTerm / VocabularySpelling, seeded by reps.vocabulary_seed).

How a spelling is compared (`vocabulary_key`): `core.text.fold` (case, diacritics, spaces), then every character
that is not a letter or digit is dropped, so "E-commerce", "e commerce" and "eCommerce" are one key; for regions the
words "woj.", "województwo" in front and "voivodeship", "province", "region" behind are dropped too.

Cache: compiled once per process, like routing/ruleset.py's rule set. The version is one aggregate query (counts,
highest ids, latest `updated_at` of terms and spellings), checked before each use, so an edit in the admin is seen
by every process on its next lead; a copy older than MAX_AGE_SECONDS is recompiled anyway. Intake asks only for a
lead with a region or an industry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection

from core.conditions import ReadAs
from core.text import fold
from core.versioned_cache import VersionedCache
from reps.models import VocabularySpelling, VocabularyTerm

REGION = VocabularyTerm.Kind.REGION.value
INDUSTRY = VocabularyTerm.Kind.INDUSTRY.value
# The lead fields read through a vocabulary, and the vocabulary each is read through.
FIELD_KINDS: dict[str, str] = {"region": REGION, "industry": INDUSTRY}

MAX_AGE_SECONDS = 300.0
_NOT_ALNUM = re.compile(r"[\W_]+")
_REGION_BEFORE = frozenset({"woj", "wojewodztwo", "wojewodztwa", "voivodeship", "province", "region"})
_REGION_AFTER = frozenset({"voivodeship", "province", "region", "wojewodztwo"})



def vocabulary_key(text: object, *, kind: str) -> str:
    """What spellings are compared by: "woj. Śląskie" -> "slaskie", "Kujawsko-Pomorskie" -> "kujawskopomorskie"."""
    words = [w for w in _NOT_ALNUM.split(fold(text)) if w]
    if kind == REGION:
        while len(words) > 1 and words[0] in _REGION_BEFORE:
            words.pop(0)
        while len(words) > 1 and words[-1] in _REGION_AFTER:
            words.pop()
    return "".join(words)


@dataclass(frozen=True)
class Vocabulary:
    """The compiled vocabularies: key -> canonical name per kind, and the folded spellings of every term."""

    canonical: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind -> key -> canonical name
    folded: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (kind, name) -> fold() of its spellings
    conflicts: tuple[str, ...] = ()  # spellings two terms claim (the first term keeps them); the admin refuses new ones
    version: tuple = ()

    def read(self, kind: str, text: object) -> str | None:
        """The canonical name `text` is a spelling of, or None."""
        if not text:
            return None
        return self.canonical.get(kind, {}).get(vocabulary_key(text, kind=kind))

    def region_keys(self, region_key: str) -> tuple[str, ...]:
        """The `fold`ed names a territory region may be stored under for a lead's region key ("slask": "slaskie",
        "slask", "silesia"...): its own key first, then every spelling of its term."""
        if not region_key:
            return ()
        name = self.read(REGION, region_key)
        if name is None:
            return (region_key,)
        return (region_key, *sorted(self.folded.get((REGION, name), frozenset()) - {region_key}))


def vocabulary_compile(*, version: tuple = ()) -> Vocabulary:
    """Every term with its spellings (two queries). A spelling two terms claim stays with the older term."""
    canonical: dict[str, dict[str, str]] = {REGION: {}, INDUSTRY: {}}
    folded: dict[tuple[str, str], set[str]] = {}
    conflicts: list[str] = []
    terms = {t.pk: t for t in VocabularyTerm.objects.order_by("id")}
    spellings: dict[int, list[str]] = {pk: [] for pk in terms}
    for term_id, text in VocabularySpelling.objects.order_by("term_id", "id").values_list("term_id", "text"):
        spellings.setdefault(term_id, []).append(text)
    for pk, term in terms.items():
        keys = canonical.setdefault(term.kind, {})
        for text in (term.name, *spellings.get(pk, ())):
            key = vocabulary_key(text, kind=term.kind)
            if not key:
                continue
            folded.setdefault((term.kind, term.name), set()).add(fold(text))
            if keys.setdefault(key, term.name) != term.name:
                conflicts.append(f"{text} ({keys[key]} / {term.name})")
    return Vocabulary(
        canonical=canonical,
        folded={k: frozenset(v) for k, v in folded.items()},
        conflicts=tuple(conflicts),
        version=version,
    )


def vocabulary_claims(*, kind: str, exclude_term_id: int | None = None) -> dict[str, tuple[str, str]]:
    """{key: (term, spelling)} for every name and spelling of the other terms of `kind`: what a term being edited
    must not repeat (the admin's check; two queries)."""
    claims: dict[str, tuple[str, str]] = {}
    terms = VocabularyTerm.objects.filter(kind=kind).exclude(pk=exclude_term_id).order_by("id")
    for name in terms.values_list("name", flat=True):
        claims.setdefault(vocabulary_key(name, kind=kind), (name, name))
    for name, text in VocabularySpelling.objects.filter(term__in=terms).order_by("term_id", "id").values_list("term__name", "text"):
        claims.setdefault(vocabulary_key(text, kind=kind), (name, text))
    claims.pop("", None)
    return claims


def vocabulary_version_sql(q) -> list[str]:
    """The scalar subqueries of the fingerprint of terms and spellings: changes on any add, edit or delete.
    (routing.config_version reads them with the other caches' in one query per lead.)"""
    parts = []
    for model in (VocabularyTerm, VocabularySpelling):
        table, updated_at = q(model._meta.db_table), q(model._meta.get_field("updated_at").column)
        parts += [f"(SELECT COUNT(*) FROM {table})", f"(SELECT MAX(id) FROM {table})", f"(SELECT MAX({updated_at}) FROM {table})"]
    return parts


def vocabulary_version() -> tuple:
    """The fingerprint of terms and spellings, in one query of its own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(vocabulary_version_sql(connection.ops.quote_name)))
        row = cursor.fetchone()
    return tuple(str(value) if value is not None else None for value in row)


_vocabulary_cache: VersionedCache[Vocabulary] = VersionedCache(lambda version: vocabulary_compile(version=version), max_age=MAX_AGE_SECONDS)


def vocabulary_active(*, version: tuple | None = None) -> Vocabulary:
    """The compiled vocabularies; recompiled only when their version (`vocabulary_version()` unless the caller read
    it already) changed, or the copy is old."""
    return _vocabulary_cache.get(vocabulary_version() if version is None else version)


def vocabulary_invalidate() -> None:
    """Forget this process's compiled vocabularies."""
    _vocabulary_cache.clear()


def fields_read(fields: dict[str, object], *, vocabulary: Vocabulary | None = None) -> dict[str, object]:
    """A lead's fields with region and industry read as their canonical terms (in place, and returned).

    A value that is a spelling of a term becomes a `core.conditions.ReadAs`: it compares as the term and an
    explanation shows both. Unknown values stay as typed. Reads the vocabularies (cached) only if a field is set.
    """
    wanted = [name for name in FIELD_KINDS if isinstance(fields.get(name), str) and fields[name].strip()]
    if not wanted:
        return fields
    vocabulary = vocabulary or vocabulary_active()
    for name in wanted:
        typed = fields[name]
        canonical = vocabulary.read(FIELD_KINDS[name], typed)
        if canonical is not None:
            fields[name] = ReadAs(canonical, typed if " ".join(typed.split()) != canonical else "")
    return fields
