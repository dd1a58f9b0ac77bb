"""Text conditions match words in any Polish inflected form (docs/words.md): the demo through the API, then the
tokeniser and lemmatiser on their own (no database)."""

import json

import pytest
from django.utils import translation

from core import words
from core.conditions import WORDS, Condition, LeadFacts, check, condition_errors, evaluate
from flows.routing_setup import routing_config_check, routing_config_export
from routing.models import Rule, RuleCondition
from routing.ruleset import ruleset_invalidate
from sla.models import PolicyCondition

URL = "/api/v1/leads/"


def post(api, **fields):
    body = {"email": f"osoba{abs(hash(json.dumps(fields, sort_keys=True))) % 10**8}@firma-produkcyjna.example", "company": "Firma", **fields}
    response = api.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


# --------------------------------------------------------------------------------------------------
# The demo through the API


@pytest.mark.django_db
@pytest.mark.parametrize(
    "message",
    [
        "Dzień dobry, mamy awarię linii produkcyjnej",  # accusative
        "Po awarii serwera nic nie działa",  # genitive / locative
        "Awarie serwerów od rana",  # plural
        "Walczymy z awariami sterowników",  # instrumental plural
        "AWARIA!!!",
        "mamy awarie",  # typed without the Polish letter
    ],
)
def test_awaria_in_any_case_or_number_goes_to_rapid_response_with_priority_critical(api, demo, piotr, ewa, message):
    body = post(api, message=message, source="contact_form")
    assert body["rule"]["name"] == 'Failure ("awaria") → Rapid response'
    assert body["owner"]["email"] in {piotr.email, ewa.email}
    assert body["priority"] == "critical"


@pytest.mark.django_db
def test_awaryjne_zasilanie_is_not_a_failure(api, demo):
    body = post(api, message="Pytanie o awaryjne zasilanie biura", source="contact_form")
    assert body["rule"] is None or body["rule"]["name"] != 'Failure ("awaria") → Rapid response'
    assert body["priority"] != "critical"


@pytest.mark.django_db
@pytest.mark.parametrize("job_title", ["Internal Audit Director", "International Sales Manager", "Studio Manager", "Dyrektorka finansowa"])
def test_titles_that_only_look_like_student_or_intern_are_not_disqualified(api, demo, job_title):
    body = post(api, job_title=job_title, source="contact_form")
    assert body["status"] != "disqualified"
    assert body["rule"] is None or body["rule"]["name"] != "Students and interns → disqualify"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "job_title", ["Stażystka ds. marketingu", "Praktykantka", "studentka III roku", "Studenci", "Summer interns", "stazysta", "Stażyści w dziale IT"]
)
def test_students_and_interns_in_any_form_are_disqualified(api, demo, job_title):
    body = post(api, job_title=job_title, source="contact_form")
    assert body["status"] == "disqualified"
    assert body["rule"]["name"] == "Students and interns → disqualify"


@pytest.mark.django_db
def test_explanation_names_the_form_that_matched(api, demo):
    body = post(api, job_title="Stażystka ds. marketingu", source="contact_form")
    assert "job title “Stażystka ds. marketingu” has the word “stażysta” (as “Stażystka”)" in " ".join(body["explanation"])
    body = post(api, message="mamy awarię serwera", source="contact_form")
    assert "message “mamy awarię serwera” has the word “awaria” (as “awarię”)" in " ".join(body["explanation"])


@pytest.mark.django_db
def test_a_phrase_matches_consecutive_words_each_in_any_form(api, demo, piotr, ewa):
    rule = Rule.objects.get(name='Failure ("awaria") → Rapid response')
    condition = rule.conditions.get()
    RuleCondition.objects.filter(pk=condition.pk).update(value="awaria; brak prądu; nie działa")
    ruleset_invalidate()
    hit = post(api, message="Od rana braku prądu w hali", source="contact_form")
    assert hit["owner"]["email"] in {piotr.email, ewa.email}
    assert "has the phrase “brak prądu” (as “braku prądu”)" in " ".join(hit["explanation"])
    apart = post(api, message="Brak odpowiedzi, prądu nie ma", source="contact_form")
    assert apart["rule"] is None or apart["rule"]["name"] != rule.name, "the words of a phrase must be consecutive"


@pytest.mark.django_db
def test_the_critical_sla_policy_has_the_word_awaria_in_any_form(api, demo):
    condition = PolicyCondition.objects.get(policy__name="Critical", field="message")
    assert condition.operator == WORDS
    body = post(api, message="Zgłaszamy awarię", source="newsletter", job_title="Stażystka")  # disqualified first...
    assert body["status"] == "disqualified"  # ...and a disqualified lead gets no clock
    body = post(api, message="Zgłaszamy awarię", source="webinar")
    assert body["priority"] == "critical"


@pytest.mark.django_db
def test_the_routing_document_carries_the_words_operator_and_the_rule_reads_in_words(demo):
    from routing.rule_words import condition_words

    rule = Rule.objects.get(name="Students and interns → disqualify")
    assert condition_words(rule.conditions.get()) == "Job title has any of the words: student, praktykant, stażysta, intern"
    with translation.override("pl"):
        assert condition_words(rule.conditions.get()) == "Stanowisko zawiera któreś ze słów: student, praktykant, stażysta, intern"
    document = routing_config_export()
    exported = json.dumps(document, ensure_ascii=False)
    assert '"operator": "words", "value": "student;praktykant;stażysta;intern"' in exported
    assert routing_config_check(document) == []
    broken = json.loads(exported)
    next(r for r in broken["rules"] if r["name"] == rule.name)["conditions"][0]["value"] = " ; !! "
    assert any("Give words" in problem or "at least one value" in problem for problem in routing_config_check(broken))


# --------------------------------------------------------------------------------------------------
# Pure: no database


def words_condition(value: str, field: str = "message") -> Condition:
    return Condition.build(operator=WORDS, field=field, value=value)


def test_tokens_split_on_anything_but_letters_and_digits():
    text = "Mamy awarię: linia-2/sterownik_A!"
    assert [text[t.start : t.end] for t in words.tokens(text)] == ["Mamy", "awarię", "linia", "2", "sterownik", "A"]
    assert words.tokens("") == () and words.tokens(None) == () and words.tokens(" ;!? ") == ()


@pytest.mark.parametrize(
    ("form", "keyword"),
    [
        ("awarię", "awaria"),
        ("awarii", "awaria"),
        ("awarie", "awaria"),
        ("awariami", "awaria"),
        ("studentka", "student"),
        ("studenci", "student"),
        ("studentki", "student"),
        ("praktykantka", "praktykant"),
        ("praktykanci", "praktykant"),
        ("stażystka", "stażysta"),
        ("stażyści", "stażysta"),
        ("stazystka", "stażysta"),
        ("interns", "intern"),
        ("prezesa", "prezes"),
        ("prezeska", "prezes"),
        ("dyrektorka", "dyrektor"),
        ("dyrektora", "dyrektor"),
        ("dyrektorzy", "dyrektor"),
        ("kierowniczka", "kierownik"),
        ("STUDENTKA", "Student"),
    ],
)
def test_a_word_in_any_form_has_the_keywords_keys(form, keyword):
    assert words.word_keys(form) & words.word_keys(keyword)


@pytest.mark.parametrize(
    ("word", "keyword"), [("internal", "intern"), ("international", "intern"), ("studio", "student"), ("awaryjny", "awaria"), ("dyrekcja", "dyrektor")]
)
def test_a_different_word_that_starts_alike_is_not_the_keyword(word, keyword):
    assert not words.word_keys(word) & words.word_keys(keyword)


def test_the_dictionary_is_loaded_once_and_only_when_a_word_is_looked_up():
    words.preload()
    lookup = words._lookup
    words.lemma("awarię")
    assert words.is_loaded() and words._lookup is lookup


def test_a_condition_names_the_form_in_english_and_polish():
    condition = words_condition("awaria")
    facts = LeadFacts(fields={"message": "Po awarii serwera"})
    assert check(condition, facts) == (True, "message “Po awarii serwera” has the word “awaria” (as “awarii”)")
    with translation.override("pl"):
        assert check(condition, facts) == (True, "wiadomość „Po awarii serwera” zawiera słowo „awaria” (w formie „awarii”)")
        holds, line = check(condition, LeadFacts(fields={"message": "Prośba o ofertę"}))
        assert holds is False and "nie zawiera żadnego ze słów" in line


def test_the_same_form_as_the_keyword_is_not_repeated():
    assert check(words_condition("awaria"), LeadFacts(fields={"message": "AWARIA"}))[1] == "message “AWARIA” has the word “awaria”"


def test_a_lead_field_is_lemmatised_once_for_all_its_conditions(monkeypatch):
    conditions = [words_condition("przetarg"), words_condition("oferta"), words_condition("awaria"), words_condition("student", field="job_title")]
    calls = []
    real = words.tokens
    monkeypatch.setattr(words, "tokens", lambda text: calls.append(text) or real(text))
    facts = LeadFacts(fields={"message": "mamy awarię", "job_title": "Kierownik"})
    assert evaluate(conditions, "any", facts)[0]
    assert evaluate(conditions[-1:], "any", facts)[0] is False
    assert calls == ["mamy awarię", "Kierownik"]


def test_keywords_are_compiled_with_the_condition_not_per_lead():
    condition = words_condition("awaria; brak prądu; ;!")
    assert [p.text for p in condition.phrases] == ["awaria", "brak prądu"]
    assert [len(p.words) for p in condition.phrases] == [1, 2]


def test_contains_text_is_still_a_substring_test():
    contains = Condition.build(operator="contains", field="job_title", value="intern")
    assert check(contains, LeadFacts(fields={"job_title": "Internal Audit Director"}))[0] is True
    assert check(words_condition("intern", field="job_title"), LeadFacts(fields={"job_title": "Internal Audit Director"}))[0] is False


def test_words_conditions_are_validated_like_lists():
    assert condition_errors(field="message", operator=WORDS, value="awaria; brak prądu", has_domain_list=False) == []
    assert "at least one value" in condition_errors(field="message", operator=WORDS, value=" ; ", has_domain_list=False)[0]
    assert "Give words" in condition_errors(field="message", operator=WORDS, value="awaria; !!", has_domain_list=False)[0]
    assert "is a number" in condition_errors(field="company_size", operator=WORDS, value="250", has_domain_list=False)[0]


@pytest.mark.parametrize("text", ["", None, 250, "x" * 5000, "\x00", "ąęśćżźółń" * 100, "🙂 awaria 🙂"])
def test_any_field_value_gives_an_answer_never_an_exception(text):
    holds, line = check(words_condition("awaria"), LeadFacts(fields={"message": text}))
    assert isinstance(holds, bool) and line
