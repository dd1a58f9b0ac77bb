"""The pure routing engine: conditions, rules, decisions and explanations, with no database."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import engine
from core.engine import (
    AccountFact,
    CompiledRule,
    Condition,
    LeadFacts,
    RepeatFact,
    Ruleset,
    TerritoryFact,
    condition_errors,
    decide,
    evaluate,
    rule_target_errors,
)


def cond(operator, field="", value="", **kw):
    return Condition.build(operator=operator, field=field, value=value, **kw)


def facts(**fields):
    extra = fields.pop("extra", {})
    kw = {k: fields.pop(k) for k in ("domain_list_ids", "account", "repeat", "territory") if k in fields}
    domain = fields.get("email_domain", "")
    return LeadFacts(fields=fields, extra=extra, email_domain=domain, **kw)


def rule(id, target, *conditions, match="all", **kw):
    return CompiledRule(id=id, name=f"Rule {id}", position=id, target=target, conditions=tuple(conditions), match=match, **kw)


STUDENTS = cond("contains", "job_title", "student;praktykant;stażysta;intern")


# Conditions --------------------------------------------------------------------------------------


def test_keyword_contains_ignores_case_and_polish_diacritics():
    assert evaluate([STUDENTS], "all", facts(job_title="STAZYSTA w dziale IT"))[0]
    assert evaluate([STUDENTS], "all", facts(job_title="Summer Intern"))[0]
    assert evaluate([cond("contains", "message", "awaria")], "all", facts(message="AWARIA linii produkcyjnej!"))[0]
    assert evaluate([cond("contains", "message", "awaria")], "all", facts(message="Prośba o ofertę"))[0] is False
    assert evaluate([cond("contains", "message", "AWARIA")], "all", facts(message="mamy awarię"))[0] is False  # "awarię" is not "awaria"


def test_keyword_line_names_the_keyword_and_the_value_seen():
    holds, lines = evaluate([STUDENTS], "all", facts(job_title="Praktykant"))
    assert holds
    assert lines == ["job title “Praktykant” contains “praktykant”"]


def test_region_equals_ignores_case_and_diacritics():
    slaskie = cond("equals", "region", "Śląskie")
    assert evaluate([slaskie], "all", facts(region="slaskie"))[0]
    assert evaluate([slaskie], "all", facts(region="ŚLĄSKIE "))[0]
    assert not evaluate([slaskie], "all", facts(region="Małopolskie"))[0]


def test_city_in_list_ignores_diacritics_including_l_stroke():
    assert evaluate([cond("in", "city", "Łódź; Kraków")], "all", facts(city="lodz"))[0]


def test_other_text_compares_ignore_case_only():
    assert evaluate([cond("equals", "industry", "E-commerce")], "all", facts(industry="e-COMMERCE"))[0]
    assert not evaluate([cond("equals", "industry", "Usługi")], "all", facts(industry="Uslugi"))[0]


def test_not_equals_and_starts_with():
    assert evaluate([cond("not_equals", "language", "pl")], "all", facts(language="de"))[0]
    assert not evaluate([cond("not_equals", "language", "pl")], "all", facts(language="PL"))[0]
    assert evaluate([cond("starts_with", "phone", "+48;0048")], "all", facts(phone="+48 600 100 200"))[0]
    assert not evaluate([cond("starts_with", "phone", "+48")], "all", facts(phone=""))[0]


def test_number_compares_company_size():
    big = cond("gt", "company_size", "250")
    assert evaluate([big], "all", facts(company_size=251))[0]
    assert not evaluate([big], "all", facts(company_size=250))[0]
    assert evaluate([cond("gte", "company_size", "250")], "all", facts(company_size=250))[0]
    assert evaluate([cond("lt", "company_size", "10")], "all", facts(company_size=9))[0]
    assert evaluate([cond("lte", "company_size", "10")], "all", facts(company_size=10))[0]


def test_number_compare_without_a_number_does_not_hold_and_says_so():
    holds, lines = evaluate([cond("gt", "company_size", "250")], "all", facts(company_size=None))
    assert not holds
    assert "not a number" in lines[0]


def test_postal_code_compares_as_number():
    assert evaluate([cond("gte", "postal_code", "40-000")], "all", facts(postal_code="40-000"))[0]
    assert not evaluate([cond("gte", "postal_code", "40-000")], "all", facts(postal_code="39-999"))[0]


def test_empty_and_not_empty():
    assert evaluate([cond("empty", "phone")], "all", facts(phone="  "))[0]
    assert evaluate([cond("not_empty", "phone")], "all", facts(phone="+48 1"))[0]
    assert evaluate([cond("empty", "extra.campaign")], "all", facts())[0]


def test_extra_fields_are_tested_by_key():
    assert evaluate([cond("equals", "extra.campaign", "Wiosna")], "all", facts(extra={"campaign": "wiosna"}))[0]
    assert evaluate([cond("gt", "extra.budget", "10000")], "all", facts(extra={"budget": 20000}))[0]
    assert not evaluate([cond("gt", "extra.budget", "10000")], "all", facts(extra={"budget": {"nested": 1}}))[0]


def test_fact_conditions_read_the_facts():
    vip = cond("in_domain_list", domain_list_id=7, domain_list_name="VIP")
    holds, lines = evaluate([vip], "all", facts(email_domain="bigbank.example", domain_list_ids=frozenset({7})))
    assert holds and lines == ["e-mail domain “bigbank.example” is in the list “VIP”"]
    assert not evaluate([vip], "all", facts(email_domain="firma.example"))[0]
    account = AccountFact(id=1, name="Huta Stal S.A.", manager_id=3)
    assert evaluate([cond("is_account")], "all", facts(account=account))[0]
    assert evaluate([cond("is_repeat")], "all", facts(repeat=RepeatFact(earlier_lead_ids=(4,), previous_lead_id=4, previous_owner_id=2)))[0]
    territory = TerritoryFact(id=1, name="Śląsk", owner_rep_id=2, matched_by="region Śląskie")
    assert evaluate([cond("in_territory")], "all", facts(territory=territory))[0]
    assert evaluate([cond("in_territory", value="slask")], "all", facts(territory=territory))[0]
    assert not evaluate([cond("in_territory", value="Mazowsze")], "all", facts(territory=territory))[0]


def test_all_stops_at_the_first_failing_condition_and_any_at_the_first_that_holds():
    conditions = [cond("equals", "source", "demo_request"), cond("contains", "message", "awaria")]
    holds, lines = evaluate(conditions, "all", facts(source="webinar", message="awaria"))
    assert not holds and len(lines) == 1 and "does not equal" in lines[0]
    holds, lines = evaluate(conditions, "any", facts(source="webinar", message="awaria"))
    assert holds and len(lines) == 2
    holds, lines = evaluate(conditions, "any", facts(source="webinar", message="dzień dobry"))
    assert not holds and len(lines) == 2


def test_no_conditions_match_every_lead():
    assert evaluate([], "all", facts())[0]
    assert evaluate([], "any", facts())[0]


def test_an_invalid_condition_row_never_holds_and_never_raises():
    for bad in [cond("gt", "industry", "x"), cond("bogus", "job_title", "x"), cond("equals", "no_such_field", "x"), cond("in_domain_list")]:
        holds, lines = evaluate([bad], "all", facts(industry="IT"))
        assert holds is False and lines


# Rules --------------------------------------------------------------------------------------------


def test_first_active_matching_rule_wins_and_each_rule_checked_is_explained():
    rules = Ruleset(
        rules=(
            rule(1, "nobody", STUDENTS),
            rule(2, "rep", cond("gt", "company_size", "250"), target_rep_id=10),
            rule(3, "rep", cond("equals", "language", "de"), target_rep_id=11),
        )
    )
    decision = decide(rules, facts(job_title="CEO", company_size=300, language="de"))
    assert decision.rule.id == 2
    assert len(decision.explanation) == 2
    assert decision.explanation[0].startswith("Rule 1 “Rule 1”: no match — job title “CEO” contains none of")
    assert decision.explanation[1] == "Rule 2 “Rule 2”: matches — company size “300” > 250"


def test_inactive_rules_are_skipped():
    rules = [rule(1, "nobody", is_active=False), rule(2, "rep", target_rep_id=5)]
    assert decide(rules, facts()).rule.id == 2


def test_nothing_matches_means_fallback():
    decision = decide([rule(1, "nobody", STUDENTS)], facts(job_title="CEO"))
    assert decision.rule is None and decision.is_fallback and decision.target == "fallback"
    assert "fallback" in decision.explanation[-1]


def test_a_rule_without_a_target_in_the_facts_passes_to_the_next_rule():
    """A repeat lead whose earlier lead had no owner cannot go to "the previous owner"."""
    repeat = RepeatFact(earlier_lead_ids=(1,), previous_lead_id=1, previous_owner_id=None)
    rules = [rule(1, "previous_owner", cond("is_repeat")), rule(2, "pool", target_pool_id=3)]
    decision = decide(rules, facts(email="a@b.example", repeat=repeat))
    assert decision.rule.id == 2
    assert "next rule" in decision.explanation[0]


def _long_table():
    """499 rules that want another region, one whose target the lead lacks (no account), then the lead's rule 500."""
    rules = [rule(i, "rep", cond("equals", "region", f"Region {i}"), target_rep_id=i) for i in range(1, 500)]
    rules[299] = rule(300, "account_manager", cond("equals", "region", "Śląskie"))  # holds, but no account manager
    rules[149] = rule(150, "rep", cond("equals", "region", "Region 150"), target_rep_id=150, is_active=False)
    rules.append(rule(500, "pool", cond("equals", "region", "Śląskie"), cond("gt", "company_size", "10"), target_pool_id=7))
    return Ruleset(rules=tuple(rules))


def test_a_why_of_500_rules_names_the_winner_the_first_and_last_rules_before_it_and_counts_the_rest():
    decision = decide(_long_table(), facts(region="Śląskie", company_size=12))
    assert decision.rule.id == 500 and decision.rules_checked == 499  # rule 150 is inactive
    why = list(decision.explanation)
    assert why[-1] == "Rule 500 “Rule 500”: matches — region “Śląskie” equals “Śląskie”; company size “12” > 10"
    assert why[:5] == [f"Rule {i} “Rule {i}”: no match — region “Śląskie” does not equal “Region {i}”" for i in range(1, 6)]
    assert why[5] == "Rules 6–299: no match (293 checked, not listed one by one)"  # 150 is inactive: not checked
    assert why[6].startswith("Rule 300 “Rule 300”: conditions hold (region “Śląskie” equals “Śląskie”) but the lead belongs to no account")
    assert why[7] == "Rules 301–494: no match (194 checked, not listed one by one)"
    assert why[8:13] == [f"Rule {i} “Rule {i}”: no match — region “Śląskie” does not equal “Region {i}”" for i in range(495, 500)]
    assert len(why) == 14
    # Every rule checked is accounted for: a line of its own or counted in a run.
    assert 5 + 293 + 1 + 194 + 5 + 1 == decision.rules_checked  # the last 1: the winner
    assert len(decision.checks) == decision.rules_checked and decision.checks[-1].matched  # the full checks stay


def test_a_long_why_reads_in_polish_and_is_stored_as_codes():
    from django.utils import translation

    from core.messages import dump, load

    decision = decide(_long_table(), facts(region="Mazowieckie", company_size=12))
    assert decision.rule is None
    why = decision.explanation
    assert why[5] == "Rules 6–495: no match (489 checked, not listed one by one)" and "fallback pool" in why[-1]
    with translation.override("pl"):
        stored = [load(line) for line in dump(list(why))]
        assert str(stored[5]) == "Reguły 6–495: żadna nie pasuje (sprawdzono: 489; nie wypisano ich pojedynczo)"
        assert str(stored[-1]) == "Żadna reguła nie pasuje: lead trafia do puli awaryjnej."


def test_a_run_holding_a_rule_that_could_not_name_an_owner_does_not_say_no_match():
    """Past EXPLAINED_NEAR such rules, the rest are counted in runs that say none could take the lead."""
    rules = [rule(i, "previous_owner", cond("equals", "region", "Śląskie")) for i in range(1, 41)]
    decision = decide(Ruleset(rules=tuple(rules)), facts(region="Śląskie"))
    why = decision.explanation
    assert decision.rule is None and sum("conditions hold" in line for line in why) == 5 + 5 + 5  # head, near, tail
    assert why[10] == "Rules 11–35: none could take the lead (25 checked, not listed one by one)"
    from django.utils import translation

    with translation.override("pl"):
        assert str(why[10]) == "Reguły 11–35: żadna nie mogła przejąć leada (sprawdzono: 25; nie wypisano ich pojedynczo)"


def test_a_table_the_size_of_the_demo_is_explained_rule_by_rule_and_a_longer_one_from_its_ends():
    rules = [rule(i, "rep", cond("equals", "region", f"Region {i}"), target_rep_id=i) for i in range(1, 17)]
    demo_sized = decide(Ruleset(rules=tuple(rules[:15])), facts(region="Śląskie"))  # the demo has 13 rules
    assert demo_sized.rule is None and len(demo_sized.explanation) == 15 + 1  # + the fallback's line
    assert not any("not listed" in line for line in demo_sized.explanation)
    longer = decide(Ruleset(rules=(*rules, rule(17, "pool", target_pool_id=1))), facts(region="Śląskie"))
    assert [line.split(":")[0] for line in longer.explanation] == [
        *(f"Rule {i} “Rule {i}”" for i in range(1, 6)),
        "Rules 6–11",
        *(f"Rule {i} “Rule {i}”" for i in range(12, 18)),
    ]


# Validation ---------------------------------------------------------------------------------------


def test_validation_refuses_number_operator_on_text_field():
    assert "is text" in condition_errors(field="job_title", operator="gt", value="3", has_domain_list=False)[0]


def test_validation_refuses_unknown_field_empty_list_and_missing_domain_list():
    assert "Unknown field" in condition_errors(field="salary", operator="equals", value="1", has_domain_list=False)[0]
    assert "at least one value" in condition_errors(field="job_title", operator="contains", value=" ; ", has_domain_list=False)[0]
    assert "domain list" in condition_errors(field="", operator="in_domain_list", value="", has_domain_list=False)[0]
    assert "Give a number" in condition_errors(field="company_size", operator="gt", value="many", has_domain_list=False)[0]
    assert "lead field" in condition_errors(field="", operator="equals", value="x", has_domain_list=False)[0]


def test_validation_accepts_the_demo_conditions():
    for field, operator, value, has_list in [
        ("job_title", "contains", "student;praktykant;stażysta;intern", False),
        ("", "in_domain_list", "", True),
        ("", "is_account", "", False),
        ("", "is_repeat", "", False),
        ("message", "contains", "awaria", False),
        ("company_size", "gt", "250", False),
        ("language", "equals", "de", False),
        ("", "in_territory", "", False),
        ("extra.budget", "gte", "1000", False),
        ("phone", "not_empty", "", False),
    ]:
        assert condition_errors(field=field, operator=operator, value=value, has_domain_list=has_list) == []


def test_rule_target_validation():
    assert "target_pool" in rule_target_errors(target="pool", has_rep=False, has_pool=False)
    assert "target_rep" in rule_target_errors(target="rep", has_rep=False, has_pool=False)
    assert rule_target_errors(target="nobody", has_rep=False, has_pool=False) == {}
    assert "target_rep" in rule_target_errors(target="pool", has_rep=True, has_pool=True)


# Properties ---------------------------------------------------------------------------------------

_text = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["Śląskie", "slaskie", "AWARIA", "40-000", "250", "", " ", "de"]))
_value = st.one_of(_text, st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True), st.booleans(), st.lists(st.integers(), max_size=3))
_field = st.sampled_from([*engine.FIELD_KINDS, "extra.x", "extra.", "nope", ""])
_operator = st.sampled_from([*engine.OPERATORS, "bogus"])
_condition = st.builds(
    Condition.build,
    operator=_operator,
    field=_field,
    value=st.one_of(st.text(max_size=20), st.sampled_from(["250", "40-000", "a;b", "awaria", ";"])),
    domain_list_id=st.one_of(st.none(), st.integers(1, 3)),
)
_facts = st.builds(
    LeadFacts,
    fields=st.dictionaries(st.sampled_from(list(engine.FIELD_KINDS)), _value, max_size=8),
    extra=st.dictionaries(st.sampled_from(["x", "y"]), _value, max_size=2),
    email_domain=st.text(max_size=20),
    domain_list_ids=st.frozensets(st.integers(1, 3), max_size=3),
    account=st.one_of(st.none(), st.builds(AccountFact, id=st.integers(1, 5), name=st.text(max_size=10), manager_id=st.one_of(st.none(), st.integers(1, 5)))),
    repeat=st.one_of(
        st.none(),
        st.builds(
            RepeatFact,
            earlier_lead_ids=st.tuples(st.integers(1, 9)),
            previous_lead_id=st.integers(1, 9),
            previous_owner_id=st.one_of(st.none(), st.integers(1, 5)),
        ),
    ),
    territory=st.one_of(st.none(), st.builds(TerritoryFact, id=st.integers(1, 3), name=st.text(max_size=10), owner_rep_id=st.integers(1, 5))),
)
_rule = st.builds(
    CompiledRule,
    id=st.integers(1, 1000),
    name=st.text(max_size=20),
    position=st.integers(0, 100),
    target=st.sampled_from(["rep", "pool", "territory", "account_manager", "previous_owner", "nobody", "bogus"]),
    conditions=st.lists(_condition, max_size=4).map(tuple),
    match=st.sampled_from(["all", "any", "bogus"]),
    is_active=st.booleans(),
    target_rep_id=st.one_of(st.none(), st.integers(1, 5)),
    target_pool_id=st.one_of(st.none(), st.integers(1, 5)),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(conditions=st.lists(_condition, max_size=5), match=st.sampled_from(["all", "any"]), lead=_facts)
def test_evaluate_never_raises_and_explains_every_condition_it_checked(conditions, match, lead):
    holds, lines = evaluate(conditions, match, lead)
    assert isinstance(holds, bool)
    assert all(isinstance(line, str) and line for line in lines)
    assert 1 <= len(lines) <= max(1, len(conditions))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(_rule, max_size=6), lead=_facts)
def test_any_lead_gets_exactly_one_outcome_and_the_engine_never_raises(rules, lead):
    decision = decide(Ruleset(rules=tuple(rules)), lead)
    checked_rules = [c.rule for c in decision.checks]
    if decision.rule is None:
        assert not any(c.matched for c in decision.checks)
        assert len(checked_rules) == sum(1 for r in rules if r.is_active)
    else:
        # The winner is the last rule checked, the only one that matched, and an active one.
        assert decision.rule.is_active
        assert [c.matched for c in decision.checks].count(True) == 1 and decision.checks[-1].rule is decision.rule
        assert engine.target_missing(decision.rule, lead) is None
    assert len(decision.explanation) == len(decision.checks) + (1 if decision.rule is None else 0)
