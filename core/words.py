"""Words in a text, in any Polish inflected form: tokenise, fold, lemmatise, find a keyword or a phrase.

"mamy awarię serwera" has the word "awaria"; "Stażystka ds. marketingu" has "stażysta"; "Internal Audit Director"
does not have "intern". Pure: plain text in, plain data out, no ORM (tests/test_layers.py).

A word's *keys* are what it may be matched by (`word_keys`):
  - the word itself, folded (lower case, no diacritics: "Awarię" -> "awarie");
  - its dictionary lemma (simplemma's Polish dictionary, a lookup only, no guessing), put through a few
    rule-based suffix steps that take a job title's female form to the male one the dictionary keeps apart
    ("stażystka" -> "stażysta", "kierowniczka" -> "kierownik", "prezeska" -> "prezes"), then folded;
  - an English plural's singular ("interns" -> "intern").
A word of the text has a keyword when their keys meet; a phrase ("brak prądu") is consecutive words, each
matched so. Keywords are compiled once with the rule set (`Phrase`), a lead's text once per field (`tokens`).

The dictionary (about 3.7 million forms) is an on-disk MARISA trie built once per machine from simplemma's data and
memory-mapped by every process on the first word looked up: milliseconds and shared pages instead of seconds and
hundreds of MB per process (docs/words.md has the numbers and why this lemmatiser).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.text import fold

LANGUAGE = "pl"
# Letters and digits; anything else (spaces, punctuation, "-", "/", "_") separates words.
_WORD = re.compile(r"[^\W_]+")
# Female forms of job titles (a dictionary lemma of their own) -> the male lemma, longest ending first.
# Applied to the lemma (or to an unknown word) before folding; each ending keeps at least two letters before it.
_FEMALE_ENDINGS = (
    ("niczka", "nik"),  # kierowniczka, pracowniczka, urzędniczka
    ("yczka", "yk"),  # analityczka, informatyczka
    ("ystka", "ysta"),  # stażystka
    ("istka", "ista"),  # specjalistka
    ("antka", "ant"),  # praktykantka, konsultantka
    ("entka", "ent"),  # studentka, asystentka, klientka
    ("torka", "tor"),  # dyrektorka, koordynatorka
    ("sorka", "sor"),  # profesorka
    ("erka", "er"),  # menedżerka, partnerka, liderka
    ("eska", "es"),  # prezeska
)
_MAX_WORD = 64  # longer "words" (hashes, URLs glued together) are only compared as they are

_load_lock = threading.Lock()
_lookup = None  # the dictionary lookup, set on first use


def _cache_dir() -> Path:
    """Where the dictionary's on-disk index lives: LEADROUTER_WORDS_CACHE, else the user's cache folder."""
    if os.environ.get("LEADROUTER_WORDS_CACHE"):
        return Path(os.environ["LEADROUTER_WORDS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "leadrouter"


def _trie_build():
    """simplemma's Polish dictionary (about 3.7 million form -> lemma pairs) as a MARISA trie."""
    import marisa_trie
    from simplemma.strategies.dictionaries.dictionary_factory import _load_dictionary_from_disk

    return marisa_trie.BytesTrie((form.decode(), lemma) for form, lemma in _load_dictionary_from_disk(LANGUAGE).items())


def _trie_open():
    """The dictionary index, memory-mapped: built once per machine (a few seconds, then written atomically to the
    cache folder), opened in milliseconds by every later process, its pages shared by all of them through the OS.
    Where the cache folder cannot be written, the index is built in memory for this process only."""
    import marisa_trie
    import simplemma

    path = _cache_dir() / f"simplemma-{simplemma.__version__}-{LANGUAGE}.marisa"
    if not path.exists():
        trie = _trie_build()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
            trie.save(str(partial))
            os.replace(partial, path)  # atomic: a concurrent process sees no file or the whole file
        except OSError:
            return trie
    trie = marisa_trie.BytesTrie()
    try:
        trie.mmap(str(path))
    except Exception:  # a damaged file (disk full while writing elsewhere): build again, in memory
        return _trie_build()
    return trie


def _dictionary():
    """A dictionary-only lookup in simplemma's Polish data (no rules, no greedy decomposition: no guessed lemmas):
    the word as written, then capitalised (the data keeps proper nouns capitalised), as simplemma's own lookup."""
    global _lookup
    if _lookup is None:
        with _load_lock:
            if _lookup is None:
                trie = _trie_open()

                def lookup(word: str, _language: str = LANGUAGE) -> str | None:
                    found = trie.get(word) or trie.get(word.capitalize())
                    return found[0].decode() if found else None

                _lookup = lookup
    return _lookup


def preload() -> None:
    """Load the dictionary now (a process that wants its first lead fast may call this at start)."""
    _dictionary()


def is_loaded() -> bool:
    return _lookup is not None


def lemma(word: str) -> str | None:
    """The dictionary lemma of one word ("awarię" -> "awaria"), None when the dictionary does not know it."""
    word = word.lower()
    if not word or len(word) > _MAX_WORD:
        return None
    return _dictionary()(word, LANGUAGE)


def male_form(word: str) -> str:
    """A job title's female lemma as the male one: "stażystka" -> "stażysta"; other words unchanged."""
    for ending, replacement in _FEMALE_ENDINGS:
        if word.endswith(ending) and len(word) >= len(ending) + 2:
            return word[: -len(ending)] + replacement
    return word


@lru_cache(maxsize=50_000)
def word_keys(word: str) -> frozenset[str]:
    """What one word is matched by: itself folded, its lemma (female job titles as male) folded, an English
    plural's singular. "Stażystki" -> {"stazystki", "stazysta"}; "interns" -> {"interns", "intern"}."""
    lower = word.lower()
    keys = {fold(lower)}
    if len(lower) <= _MAX_WORD:
        found = lemma(lower)
        keys.add(fold(male_form((found or lower).lower())))
        if found is None and len(lower) >= 4 and lower.endswith("s") and not lower.endswith("ss"):
            keys.add(fold(lower[:-1]))
    keys.discard("")
    return frozenset(keys)


@dataclass(frozen=True)
class Token:
    """One word of a text: where it is (to quote the form that matched) and its keys."""

    start: int
    end: int
    keys: frozenset[str]


def has_words(text: str) -> bool:
    """Does the text have a word to look for at all (no dictionary needed)? "brak prądu" yes, " ; !" no."""
    return bool(_WORD.search(text or ""))


def tokens(text: object) -> tuple[Token, ...]:
    """The words of a text with their keys. "Mamy awarię!" -> two tokens, the second keyed by "awarie", "awaria"."""
    if text is None:
        return ()
    text = text if isinstance(text, str) else str(text)
    return tuple(Token(m.start(), m.end(), word_keys(m.group())) for m in _WORD.finditer(text))


@dataclass(frozen=True)
class Phrase:
    """A keyword or a phrase of a condition, compiled: its text as written and each word's keys."""

    text: str
    words: tuple[frozenset[str], ...]


def phrase(text: str) -> Phrase:
    """ "brak prądu" -> two words, each in any form; "" or punctuation only -> a phrase of no words (never matches)."""
    return Phrase(text=text.strip(), words=tuple(token.keys for token in tokens(text)))


def phrases(values: tuple[str, ...] | list[str]) -> tuple[Phrase, ...]:
    """The `;`-separated items of a condition's value, compiled; items with no word are dropped."""
    compiled = (phrase(value) for value in values)
    return tuple(p for p in compiled if p.words)


@dataclass(frozen=True)
class WordMatch:
    phrase: Phrase
    form: str  # the words of the text that matched, as written ("awarię", "Braku prądu")


def find(phrases_: tuple[Phrase, ...], text: str, words: tuple[Token, ...]) -> WordMatch | None:
    """The first of `phrases_` found in `text` (tokenised as `words`), in the order given, with the form it has there."""
    for wanted in phrases_:
        size = len(wanted.words)
        if not size:
            continue
        for i in range(len(words) - size + 1):
            if all(words[i + j].keys & wanted.words[j] for j in range(size)):
                return WordMatch(phrase=wanted, form=text[words[i].start : words[i + size - 1].end])
    return None
