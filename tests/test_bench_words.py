"""Benchmarks (`make bench`, not `make test`): the Polish lemmatiser behind "has any of the words" (docs/words.md).

They print the figures and the goal; what they assert is the shape that keeps intake fast (the dictionary is
loaded once per process, a lead's field is lemmatised once whatever the number of conditions), never a wall-clock
limit.
"""

import subprocess
import sys
import time as clock
from pathlib import Path

import pytest

from core import words
from core.conditions import WORDS, Condition, LeadFacts, evaluate

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
LOAD_GOAL_S = 1.0  # once per process, on its first lead: the memory-mapped index (its one-off build per machine is apart)
PER_LEAD_GOAL_MS = 1.0  # lemmatising a lead's job title and message

MESSAGES = [
    "Dzień dobry, mamy awarię linii produkcyjnej w zakładzie w Gliwicach, sterownik nie odpowiada od rana. Prosimy o pilny kontakt.",
    "Prośba o ofertę na wdrożenie systemu dla 40 użytkowników, termin realizacji do końca kwartału.",
    "Po awarii serwera nie działa nam fakturowanie; czy możecie pomóc jeszcze dziś?",
    "Chcielibyśmy umówić prezentację dla zarządu i działu IT w przyszłym tygodniu.",
]
TITLES = ["Dyrektor ds. operacyjnych", "Stażystka w dziale marketingu", "Internal Audit Director", "Kierowniczka zakupów", "Prezes zarządu"]


def test_bench_lemmatiser_load_time_in_a_fresh_process():
    code = (
        "import time; t = time.perf_counter(); from core import words; words.preload(); "
        "import resource; print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    seconds, rss_mb = (float(x) for x in done.stdout.split())
    print(f"\nwords: dictionary load {seconds:.1f} s in a fresh process, resident memory {rss_mb:.0f} MB (goal: under {LOAD_GOAL_S:.0f} s, once per process)")
    assert rss_mb > 0


def test_bench_lemmatiser_per_lead_cost_and_one_lemmatising_per_field():
    words.preload()
    conditions = [
        Condition.build(operator=WORDS, field="job_title", value="student;praktykant;stażysta;intern"),
        Condition.build(operator=WORDS, field="message", value="awaria; brak prądu; nie działa"),
        Condition.build(operator=WORDS, field="message", value="przetarg; zamówienie publiczne"),
        Condition.build(operator=WORDS, field="message", value="reklamacja; zwrot"),
    ]
    leads = [{"job_title": TITLES[i % len(TITLES)], "message": MESSAGES[i % len(MESSAGES)] + f" Zgłoszenie {i}."} for i in range(2000)]
    words.word_keys.cache_clear()  # a cold cache of word keys: the worst case per lead
    started = clock.perf_counter()
    for fields in leads:
        facts = LeadFacts(fields=fields)
        evaluate(conditions, "any", facts)
        evaluate(conditions[1:], "any", facts)  # the SLA policy tests the message again: no new lemmatising
        assert set(facts.words_cache) <= {"job_title", "message"}
    per_lead_ms = 1000 * (clock.perf_counter() - started) / len(leads)
    print(f"\nwords: {per_lead_ms:.3f} ms per lead (job title + a 20-word message, 4 word conditions, checked twice) (goal: under {PER_LEAD_GOAL_MS} ms)")
    assert words.is_loaded()
