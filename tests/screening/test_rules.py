"""The candidacy pre-screen, pure (no database): the rules of version 1 (shared/domain/screening.md, "Rules"),
their precedence and boundaries, the PHQ-9 bands, and the validation of the answers.

An applicant may be in crisis, so every rule is checked alone, at its edges, in combination, and against an
independent reading of the table in screening.md (a hypothesis property over random valid answers).
"""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import fields as mfields
from marshmallow import validate as mvalidate

from retreat.core.errors import ValidationFailed
from retreat.screening import rules
from retreat.screening.questions import ANSWERS, CssrsAnswers
from retreat.screening.rules import OUTCOMES, RULE_SETS, evaluate, phq9_severity
from retreat.screening.services import validate_answers

# --- The contract, written out from screening.md ------------------------------------------------------------

PRECEDENCE = ("eligible", "review", "ineligible", "crisis")  # lowest to highest

# Rules (version 1): code -> outcome, in the order of the table.
CONTRACT_V1 = {
    "cssrs_intent_or_plan": "crisis",
    "cssrs_recent_behavior": "crisis",
    "cssrs_method": "review",
    "cssrs_past_behavior": "review",
    "cssrs_ideation": "review",
    "phq9_self_harm_item": "review",
    "under_18": "ineligible",
    "vascular_contraindication": "ineligible",
    "ketamine_allergy": "ineligible",
    "pregnancy": "ineligible",
    "active_psychosis": "ineligible",
    "mania": "ineligible",
    "recent_cardiac_event": "ineligible",
    "active_substance_use": "ineligible",
    "severe_hypertension": "ineligible",
    "elevated_bp": "review",
    "bp_unknown": "review",
    "past_cardiac_event": "review",
    "past_psychosis": "review",
    "family_psychosis": "review",
    "bipolar_stable": "review",
    "early_recovery": "review",
    "neuro_condition": "review",
    "medical_condition": "review",
    "interacting_medication": "review",
    "bladder": "review",
    "prior_reaction": "review",
    "weight_out_of_range": "review",
    "not_treatment_resistant": "review",
    "low_phq9": "review",
}
URGENT_CODES = {"cssrs_method", "phq9_self_harm_item"}
PHQ9_BANDS = [(0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 19, "moderately_severe"),
              (20, 27, "severe")]

BOOLEAN_FIELDS = [
    "pregnant_or_breastfeeding", "aneurysm_avm_or_brain_bleed", "stroke_tia", "raised_intracranial_pressure",
    "glaucoma", "seizure_disorder", "hyperthyroidism_uncontrolled", "severe_liver_disease", "severe_lung_disease",
    "ketamine_allergy", "prior_adverse_ketamine_reaction", "family_history_psychosis",
    "bladder_pain_or_interstitial_cystitis",
]
ENUM_FIELDS = {
    "hypertension": ("none", "controlled", "uncontrolled"),
    "cardiac_event": ("none", "within_12_months", "over_12_months"),
    "psychosis": ("none", "past_stable", "current"),
    "bipolar": ("none", "stable", "currently_manic"),
    "substance_use": ("none", "active", "recovery_under_12_months", "recovery_12_months_plus"),
}
MEDICATIONS = ("benzodiazepine", "lamotrigine", "maoi", "stimulant")
CSSRS_FIELDS = ("wish_dead", "suicidal_thoughts", "method", "intent", "plan", "behavior",
                "behavior_within_3_months")

# --- Answers ------------------------------------------------------------------------------------------------

DROP = object()  # a change that removes the field

# Eligible: an adult of ordinary weight, normal blood pressure, two failed trials or more, moderate PHQ-9
# (total 13) with item 9 at 0, and no to every C-SSRS screener question.
BASELINE = {
    "age": 35,
    "weight_kg": 70,
    "pregnant_or_breastfeeding": False,
    "bp_systolic": 120,
    "bp_diastolic": 80,
    "hypertension": "none",
    "cardiac_event": "none",
    "aneurysm_avm_or_brain_bleed": False,
    "stroke_tia": False,
    "raised_intracranial_pressure": False,
    "glaucoma": False,
    "seizure_disorder": False,
    "hyperthyroidism_uncontrolled": False,
    "severe_liver_disease": False,
    "severe_lung_disease": False,
    "ketamine_allergy": False,
    "prior_adverse_ketamine_reaction": False,
    "psychosis": "none",
    "family_history_psychosis": False,
    "bipolar": "none",
    "substance_use": "none",
    "medications": [],
    "bladder_pain_or_interstitial_cystitis": False,
    "failed_antidepressant_trials": 3,
    "phq9": [2, 2, 2, 2, 2, 1, 1, 1, 0],
    "cssrs": {"wish_dead": False, "suicidal_thoughts": False, "behavior": False},
}


def answers(**changes) -> dict:
    """The baseline with these fields changed (DROP removes one)."""
    result = copy.deepcopy(BASELINE)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = copy.deepcopy(value)
    return result


def cssrs(**changes) -> dict:
    """The baseline C-SSRS answers (all no) with these changed (DROP removes one)."""
    result = dict(BASELINE["cssrs"])
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def phq9(total: int, item9: int = 0) -> list[int]:
    """Nine PHQ-9 items summing to `total`, with item 9 as given."""
    rest = total - item9
    assert 0 <= item9 <= 3 and 0 <= rest <= 24
    items = []
    for _ in range(8):
        items.append(min(3, rest))
        rest -= items[-1]
    return [*items, item9]


def codes(result) -> list[str]:
    return [reason.code for reason in result.reasons]


def test_baseline_is_eligible_with_no_reasons():
    result = evaluate(validate_answers(answers()))
    assert result.outcome == "eligible"
    assert result.reasons == ()
    assert result.urgent is False
    assert (result.phq9_total, result.phq9_severity) == (13, "moderate")
    assert result.rules_version == 1


def test_phq9_helper():
    assert phq9(13) == [3, 3, 3, 3, 1, 0, 0, 0, 0]
    assert phq9(27, 3) == [3] * 9
    assert sum(phq9(9)) == 9 and phq9(9)[8] == 0


# --- The rule set is data -------------------------------------------------------------------------------------

def test_outcomes_in_order_of_precedence():
    assert OUTCOMES == PRECEDENCE


def test_rules_are_data_with_unique_stable_codes():
    for version, rule_set in RULE_SETS.items():
        assert isinstance(rule_set, tuple), version
        seen = set()
        for rule in rule_set:
            assert isinstance(rule.code, str) and rule.code, rule
            assert rule.code == rule.code.strip().lower() and " " not in rule.code, rule.code
            assert rule.code not in seen, f"duplicate code {rule.code} in version {version}"
            seen.add(rule.code)
            assert rule.outcome in OUTCOMES, rule.code
            assert rule.outcome != "eligible", f"{rule.code}: a rule that fires never gives eligible"
            assert isinstance(rule.message, str) and rule.message.strip(), rule.code
            assert isinstance(rule.urgent, bool), rule.code
            assert isinstance(rule.when, tuple) and rule.when, rule.code
            with pytest.raises((AttributeError, TypeError)):
                rule.code = "changed"  # frozen: a rule cannot be edited in place


def test_version_1_codes_are_exactly_the_contract():
    rule_set = RULE_SETS[1]
    assert len(rule_set) == 30
    assert {rule.code for rule in rule_set} == set(CONTRACT_V1)
    assert {rule.code: rule.outcome for rule in rule_set} == CONTRACT_V1
    assert {rule.code for rule in rule_set if rule.urgent} == URGENT_CODES
    assert rules.CURRENT_RULES_VERSION == 1


def test_every_rule_condition_can_be_evaluated_on_the_baseline():
    facts = rules.facts_from(validate_answers(answers()))
    for rule in RULE_SETS[1]:
        assert rules.holds(rule.when, facts) is False, rule.code


def test_unknown_condition_is_refused():
    with pytest.raises(ValueError):
        rules.holds(("no_such_test", "age"), {"age": 30})


def test_evaluate_records_the_version_it_used():
    result = evaluate(validate_answers(answers()), version=1)
    assert result.rules_version == 1
    with pytest.raises(KeyError):
        evaluate(validate_answers(answers()), version=999)


# --- Each rule alone -------------------------------------------------------------------------------------------

# (code, changes from the baseline): each makes exactly that rule fire.
RULE_ALONE = [
    # C-SSRS. Intent, plan and method are normally asked after a yes to suicidal thoughts (which adds
    # cssrs_ideation); answered anyway after a no, they count on their own (safety over tidiness).
    ("cssrs_intent_or_plan", {"cssrs": cssrs(intent=True)}),
    ("cssrs_intent_or_plan", {"cssrs": cssrs(plan=True)}),
    ("cssrs_intent_or_plan", {"cssrs": cssrs(intent=True, plan=True, method=False)}),
    ("cssrs_recent_behavior", {"cssrs": cssrs(behavior=True, behavior_within_3_months=True)}),
    ("cssrs_method", {"cssrs": cssrs(method=True)}),
    ("cssrs_method", {"cssrs": cssrs(method=True, intent=False, plan=False)}),
    ("cssrs_past_behavior", {"cssrs": cssrs(behavior=True, behavior_within_3_months=False)}),
    ("cssrs_ideation", {"cssrs": cssrs(wish_dead=True)}),
    ("cssrs_ideation", {"cssrs": cssrs(suicidal_thoughts=True, method=False, intent=False, plan=False)}),
    ("cssrs_ideation", {"cssrs": cssrs(wish_dead=True, suicidal_thoughts=True, method=False, intent=False,
                                       plan=False)}),
    ("phq9_self_harm_item", {"phq9": phq9(13, item9=1)}),
    ("phq9_self_harm_item", {"phq9": phq9(15, item9=2)}),
    ("phq9_self_harm_item", {"phq9": phq9(27, item9=3)}),
    ("under_18", {"age": 17}),
    ("under_18", {"age": 0}),
    ("vascular_contraindication", {"aneurysm_avm_or_brain_bleed": True}),
    ("ketamine_allergy", {"ketamine_allergy": True}),
    ("pregnancy", {"pregnant_or_breastfeeding": True}),
    ("active_psychosis", {"psychosis": "current"}),
    ("mania", {"bipolar": "currently_manic"}),
    ("recent_cardiac_event", {"cardiac_event": "within_12_months"}),
    ("active_substance_use", {"substance_use": "active"}),
    ("severe_hypertension", {"hypertension": "uncontrolled"}),
    ("severe_hypertension", {"bp_systolic": 180, "bp_diastolic": 80}),
    ("severe_hypertension", {"bp_systolic": 120, "bp_diastolic": 110}),
    ("severe_hypertension", {"bp_systolic": 260, "bp_diastolic": 85}),
    ("severe_hypertension", {"bp_systolic": 130, "bp_diastolic": 125}),
    ("elevated_bp", {"bp_systolic": 140, "bp_diastolic": 80}),
    ("elevated_bp", {"bp_systolic": 120, "bp_diastolic": 90}),
    ("elevated_bp", {"bp_systolic": 140, "bp_diastolic": 90}),
    ("elevated_bp", {"bp_systolic": 179, "bp_diastolic": 89}),
    ("elevated_bp", {"bp_systolic": 139, "bp_diastolic": 109}),
    ("elevated_bp", {"bp_systolic": 179, "bp_diastolic": 109}),
    ("elevated_bp", {"bp_systolic": 140, "bp_diastolic": 80, "hypertension": "controlled"}),
    ("bp_unknown", {"bp_systolic": DROP, "bp_diastolic": DROP}),
    ("past_cardiac_event", {"cardiac_event": "over_12_months"}),
    ("past_psychosis", {"psychosis": "past_stable"}),
    ("family_psychosis", {"family_history_psychosis": True}),
    ("bipolar_stable", {"bipolar": "stable"}),
    ("early_recovery", {"substance_use": "recovery_under_12_months"}),
    ("neuro_condition", {"stroke_tia": True}),
    ("neuro_condition", {"raised_intracranial_pressure": True}),
    ("neuro_condition", {"glaucoma": True}),
    ("neuro_condition", {"seizure_disorder": True}),
    ("neuro_condition", {"stroke_tia": True, "raised_intracranial_pressure": True, "glaucoma": True,
                         "seizure_disorder": True}),
    ("medical_condition", {"hyperthyroidism_uncontrolled": True}),
    ("medical_condition", {"severe_liver_disease": True}),
    ("medical_condition", {"severe_lung_disease": True}),
    ("medical_condition", {"hyperthyroidism_uncontrolled": True, "severe_liver_disease": True,
                           "severe_lung_disease": True}),
    ("interacting_medication", {"medications": ["benzodiazepine"]}),
    ("interacting_medication", {"medications": ["lamotrigine"]}),
    ("interacting_medication", {"medications": ["maoi"]}),
    ("interacting_medication", {"medications": ["stimulant"]}),
    ("interacting_medication", {"medications": list(MEDICATIONS)}),
    ("bladder", {"bladder_pain_or_interstitial_cystitis": True}),
    ("prior_reaction", {"prior_adverse_ketamine_reaction": True}),
    ("weight_out_of_range", {"weight_kg": 39.9}),
    ("weight_out_of_range", {"weight_kg": 150.1}),
    ("weight_out_of_range", {"weight_kg": 20}),
    ("weight_out_of_range", {"weight_kg": 350}),
    ("not_treatment_resistant", {"failed_antidepressant_trials": 1}),
    ("not_treatment_resistant", {"failed_antidepressant_trials": 0}),
    ("low_phq9", {"phq9": phq9(9)}),
    ("low_phq9", {"phq9": phq9(0)}),
]


def _case_id(case) -> str:
    code, changes = case
    return f"{code}-" + "-".join(f"{key}={'(left out)' if value is DROP else value}"
                                 for key, value in changes.items())[:80]


def test_every_rule_has_a_case_alone():
    assert {code for code, _ in RULE_ALONE} == set(CONTRACT_V1)


@pytest.mark.parametrize(("code", "changes"), RULE_ALONE, ids=[_case_id(case) for case in RULE_ALONE])
def test_each_rule_alone(code, changes):
    result = evaluate(validate_answers(answers(**changes)))
    assert codes(result) == [code]
    expected_outcome = CONTRACT_V1[code]
    assert result.outcome == expected_outcome
    (reason,) = result.reasons
    rule = next(rule for rule in RULE_SETS[1] if rule.code == code)
    assert (reason.code, reason.message, reason.outcome) == (rule.code, rule.message, expected_outcome)
    assert result.urgent is (code in URGENT_CODES or expected_outcome == "crisis")


@pytest.mark.parametrize("code", sorted(URGENT_CODES))
def test_urgent_reviews_are_review_not_crisis(code):
    changes = dict(RULE_ALONE)[code]
    result = evaluate(validate_answers(answers(**changes)))
    assert (result.outcome, result.urgent) == ("review", True)


@pytest.mark.parametrize("changes", [
    {"age": 18}, {"age": 120}, {"weight_kg": 40}, {"weight_kg": 40.0}, {"weight_kg": 150}, {"weight_kg": 150.0},
    {"failed_antidepressant_trials": 2}, {"failed_antidepressant_trials": 50}, {"phq9": phq9(10)},
    {"phq9": phq9(24)}, {"bp_systolic": 139, "bp_diastolic": 89}, {"bp_systolic": 60, "bp_diastolic": 30},
    {"hypertension": "controlled"}, {"substance_use": "recovery_12_months_plus"}, {"cardiac_event": "none"},
    {"medications": []},
    {"cssrs": cssrs(behavior=False, behavior_within_3_months=False)},
    {"cssrs": cssrs(method=False, intent=False, plan=False)},
], ids=lambda changes: "-".join(f"{key}={value}" for key, value in changes.items())[:80])
def test_answers_that_fire_no_rule(changes):
    result = evaluate(validate_answers(answers(**changes)))
    assert (result.outcome, codes(result), result.urgent) == ("eligible", [], False)


# --- Boundaries -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("systolic", "diastolic", "expected"), [
    (139, 89, []),
    (140, 89, ["elevated_bp"]),
    (139, 90, ["elevated_bp"]),
    (140, 90, ["elevated_bp"]),
    (179, 109, ["elevated_bp"]),
    (179, 110, ["severe_hypertension", "elevated_bp"]),  # diastolic 110: severe; systolic 179: elevated
    (180, 109, ["severe_hypertension", "elevated_bp"]),  # systolic 180: severe; diastolic 109: elevated
    (180, 110, ["severe_hypertension"]),
    (180, 80, ["severe_hypertension"]),
    (120, 110, ["severe_hypertension"]),
    (300, 200, ["severe_hypertension"]),
])
def test_blood_pressure_boundaries(systolic, diastolic, expected):
    result = evaluate(validate_answers(answers(bp_systolic=systolic, bp_diastolic=diastolic)))
    assert codes(result) == expected
    if "severe_hypertension" in expected:
        assert result.outcome == "ineligible"
    elif expected:
        assert result.outcome == "review"
    else:
        assert result.outcome == "eligible"


def test_uncontrolled_hypertension_is_ineligible_even_with_a_normal_reading():
    result = evaluate(validate_answers(answers(hypertension="uncontrolled", bp_systolic=118, bp_diastolic=76)))
    assert (result.outcome, codes(result)) == ("ineligible", ["severe_hypertension"])


def test_uncontrolled_hypertension_without_a_reading_is_ineligible_and_asks_for_one():
    result = evaluate(validate_answers(answers(hypertension="uncontrolled", bp_systolic=DROP, bp_diastolic=DROP)))
    assert (result.outcome, codes(result)) == ("ineligible", ["severe_hypertension", "bp_unknown"])


@pytest.mark.parametrize(("age", "expected"), [(0, "ineligible"), (17, "ineligible"), (18, "eligible"),
                                                (19, "eligible"), (120, "eligible")])
def test_age_boundary(age, expected):
    result = evaluate(validate_answers(answers(age=age)))
    assert result.outcome == expected
    assert codes(result) == (["under_18"] if expected == "ineligible" else [])


@pytest.mark.parametrize(("weight", "fires"), [(20, True), (39.9, True), (39.99, True), (40, False),
                                               (40.0, False), (70.5, False), (150, False), (150.0, False),
                                               (150.01, True), (150.1, True), (350, True)])
def test_weight_boundaries(weight, fires):
    result = evaluate(validate_answers(answers(weight_kg=weight)))
    assert codes(result) == (["weight_out_of_range"] if fires else [])
    assert result.outcome == ("review" if fires else "eligible")


@pytest.mark.parametrize(("trials", "fires"), [(0, True), (1, True), (2, False), (3, False)])
def test_failed_trials_boundary(trials, fires):
    result = evaluate(validate_answers(answers(failed_antidepressant_trials=trials)))
    assert codes(result) == (["not_treatment_resistant"] if fires else [])


@pytest.mark.parametrize(("total", "severity"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
    (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (24, "severe"), (27, "severe"),
])
def test_phq9_total_bands_and_low_phq9(total, severity):
    item9 = 3 if total > 24 else 0
    result = evaluate(validate_answers(answers(phq9=phq9(total, item9))))
    assert (result.phq9_total, result.phq9_severity) == (total, severity)
    assert ("low_phq9" in codes(result)) is (total < 10)
    assert ("phq9_self_harm_item" in codes(result)) is (item9 >= 1)


def test_phq9_severity_of_every_total():
    for total in range(28):
        expected = next(band for low, high, band in PHQ9_BANDS if low <= total <= high)
        assert phq9_severity(total) == expected, total
    for bad in (-1, 28):
        with pytest.raises(ValueError):
            phq9_severity(bad)


@pytest.mark.parametrize(("item9", "fires"), [(0, False), (1, True), (2, True), (3, True)])
def test_phq9_item9(item9, fires):
    items = [2, 2, 2, 2, 2, 1, 1, 0, item9]
    result = evaluate(validate_answers(answers(phq9=items)))
    assert codes(result) == (["phq9_self_harm_item"] if fires else [])
    assert result.urgent is fires
    assert result.outcome == ("review" if fires else "eligible")


def test_phq9_item9_is_the_ninth_item_not_another():
    # A 3 on every item but the ninth is not a self-harm answer; a 1 on only the ninth is.
    result = evaluate(validate_answers(answers(phq9=[3, 3, 3, 3, 3, 3, 3, 3, 0])))
    assert "phq9_self_harm_item" not in codes(result) and result.urgent is False
    result = evaluate(validate_answers(answers(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 1])))
    assert "phq9_self_harm_item" in codes(result) and result.urgent is True


@pytest.mark.parametrize(("within", "code", "outcome"), [(True, "cssrs_recent_behavior", "crisis"),
                                                          (False, "cssrs_past_behavior", "review")])
def test_cssrs_behavior_within_and_beyond_3_months(within, code, outcome):
    result = evaluate(validate_answers(answers(cssrs=cssrs(behavior=True, behavior_within_3_months=within))))
    assert (codes(result), result.outcome, result.urgent) == ([code], outcome, outcome == "crisis")


def test_missing_blood_pressure_is_a_review():
    result = evaluate(validate_answers(answers(bp_systolic=DROP, bp_diastolic=DROP)))
    assert (result.outcome, codes(result), result.urgent) == ("review", ["bp_unknown"], False)


@pytest.mark.parametrize("medications", [[name] for name in MEDICATIONS] + [list(MEDICATIONS)])
def test_any_medication_is_a_review(medications):
    result = evaluate(validate_answers(answers(medications=medications)))
    assert (result.outcome, codes(result)) == ("review", ["interacting_medication"])


# --- Precedence: the highest outcome wins, every reason is listed -----------------------------------------------

SUICIDAL_WITH_INTENT = cssrs(wish_dead=True, suicidal_thoughts=True, method=True, intent=True, plan=False)

PRECEDENCE_CASES = [
    # crisis over everything
    ("crisis", {"cssrs": SUICIDAL_WITH_INTENT, "age": 17, "failed_antidepressant_trials": 1},
     {"cssrs_intent_or_plan", "cssrs_method", "cssrs_ideation", "under_18", "not_treatment_resistant"}),
    ("crisis", {"cssrs": cssrs(behavior=True, behavior_within_3_months=True), "pregnant_or_breastfeeding": True},
     {"cssrs_recent_behavior", "pregnancy"}),
    ("crisis", {"cssrs": cssrs(plan=True), "phq9": phq9(20, 2)}, {"cssrs_intent_or_plan", "phq9_self_harm_item"}),
    ("crisis", {"cssrs": cssrs(intent=True), "bp_systolic": DROP, "bp_diastolic": DROP, "ketamine_allergy": True,
                "medications": ["maoi"]},
     {"cssrs_intent_or_plan", "bp_unknown", "ketamine_allergy", "interacting_medication"}),
    # ineligible over review and eligible
    ("ineligible", {"pregnant_or_breastfeeding": True, "bp_systolic": DROP, "bp_diastolic": DROP},
     {"pregnancy", "bp_unknown"}),
    ("ineligible", {"psychosis": "current", "family_history_psychosis": True, "cssrs": cssrs(method=True)},
     {"active_psychosis", "family_psychosis", "cssrs_method"}),
    ("ineligible", {"bipolar": "currently_manic", "substance_use": "active", "phq9": phq9(12, 1)},
     {"mania", "active_substance_use", "phq9_self_harm_item"}),
    ("ineligible", {"bp_systolic": 185, "bp_diastolic": 100, "cardiac_event": "within_12_months"},
     {"severe_hypertension", "elevated_bp", "recent_cardiac_event"}),
    ("ineligible", {"cssrs": cssrs(behavior=True, behavior_within_3_months=False), "aneurysm_avm_or_brain_bleed": True},
     {"cssrs_past_behavior", "vascular_contraindication"}),
    # review over eligible
    ("review", {"weight_kg": 160, "glaucoma": True, "medications": ["lamotrigine", "stimulant"]},
     {"weight_out_of_range", "neuro_condition", "interacting_medication"}),
    ("review", {"cssrs": cssrs(wish_dead=True), "phq9": phq9(8, 1), "failed_antidepressant_trials": 0},
     {"cssrs_ideation", "phq9_self_harm_item", "low_phq9", "not_treatment_resistant"}),
]


@pytest.mark.parametrize(("outcome", "changes", "expected_codes"), PRECEDENCE_CASES,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(PRECEDENCE_CASES)])
def test_precedence_and_every_reason_listed(outcome, changes, expected_codes):
    result = evaluate(validate_answers(answers(**changes)))
    assert result.outcome == outcome
    assert set(codes(result)) == expected_codes
    assert len(codes(result)) == len(expected_codes)
    assert all(reason.outcome == CONTRACT_V1[reason.code] for reason in result.reasons)
    assert result.urgent is (outcome == "crisis" or bool(expected_codes & URGENT_CODES))


def test_as_many_rules_as_can_fire_together():
    # Mutually exclusive pairs aside (recent/past behaviour, current/past psychosis, ...), everything at once.
    worst = answers(
        age=16, weight_kg=35, pregnant_or_breastfeeding=True, bp_systolic=DROP, bp_diastolic=DROP,
        hypertension="uncontrolled", cardiac_event="within_12_months", aneurysm_avm_or_brain_bleed=True,
        stroke_tia=True, hyperthyroidism_uncontrolled=True, ketamine_allergy=True,
        prior_adverse_ketamine_reaction=True, psychosis="current", family_history_psychosis=True,
        bipolar="currently_manic", substance_use="active", medications=["maoi"],
        bladder_pain_or_interstitial_cystitis=True, failed_antidepressant_trials=0, phq9=[0, 0, 0, 0, 0, 0, 0, 0, 3],
        cssrs=cssrs(wish_dead=True, suicidal_thoughts=True, method=True, intent=True, plan=True, behavior=True,
                    behavior_within_3_months=True),
    )
    result = evaluate(validate_answers(worst))
    not_firing = {"cssrs_past_behavior", "elevated_bp", "past_cardiac_event", "past_psychosis", "bipolar_stable",
                  "early_recovery"}
    assert codes(result) == [code for code in CONTRACT_V1 if code not in not_firing]  # in the table's order
    assert result.outcome == "crisis" and result.urgent is True


def test_reasons_are_listed_in_the_order_of_the_rule_set():
    result = evaluate(validate_answers(answers(failed_antidepressant_trials=0, age=17, cssrs=cssrs(intent=True),
                                               medications=["maoi"])))
    order = [rule.code for rule in RULE_SETS[1]]
    assert codes(result) == sorted(codes(result), key=order.index)
    assert codes(result) == ["cssrs_intent_or_plan", "under_18", "interacting_medication", "not_treatment_resistant"]


# --- Validation -----------------------------------------------------------------------------------------------

def _missing_follow_up(name):
    return cssrs(suicidal_thoughts=True, **{other: False for other in ("method", "intent", "plan") if other != name})


REQUIRED_FIELDS = [name for name in BASELINE if name not in ("bp_systolic", "bp_diastolic")]

# (id, answers, the exact field keys of the ValidationFailed)
INVALID = [
    # unknown fields
    ("unknown-field", answers(favourite_colour="blue"), {"answers.favourite_colour"}),
    ("unknown-cssrs-field", answers(cssrs=cssrs(ideation_frequency=True)), {"answers.cssrs.ideation_frequency"}),
    # missing required fields
    *[(f"missing-{name}", answers(**{name: DROP}), {f"answers.{name}"}) for name in REQUIRED_FIELDS],
    *[(f"missing-cssrs-{name}", answers(cssrs=cssrs(**{name: DROP})), {f"answers.cssrs.{name}"})
      for name in ("wish_dead", "suicidal_thoughts", "behavior")],
    # wrong types
    ("age-string", answers(age="35"), {"answers.age"}),
    ("age-float", answers(age=35.5), {"answers.age"}),
    ("age-whole-float", answers(age=35.0), {"answers.age"}),
    ("age-boolean", answers(age=True), {"answers.age"}),
    ("age-null", answers(age=None), {"answers.age"}),
    ("age-list", answers(age=[35]), {"answers.age"}),
    ("weight-string", answers(weight_kg="70"), {"answers.weight_kg"}),
    ("weight-boolean", answers(weight_kg=True), {"answers.weight_kg"}),
    ("weight-null", answers(weight_kg=None), {"answers.weight_kg"}),
    ("weight-nan", answers(weight_kg=float("nan")), {"answers.weight_kg"}),
    ("weight-infinity", answers(weight_kg=float("inf")), {"answers.weight_kg"}),
    ("trials-string", answers(failed_antidepressant_trials="3"), {"answers.failed_antidepressant_trials"}),
    ("trials-float", answers(failed_antidepressant_trials=2.5), {"answers.failed_antidepressant_trials"}),
    ("trials-boolean", answers(failed_antidepressant_trials=True), {"answers.failed_antidepressant_trials"}),
    ("bp-string", answers(bp_systolic="120"), {"answers.bp_systolic"}),
    ("bp-float", answers(bp_diastolic=80.5), {"answers.bp_diastolic"}),
    ("bp-null", answers(bp_systolic=None, bp_diastolic=None), {"answers.bp_systolic", "answers.bp_diastolic"}),
    *[(f"{name}-one", answers(**{name: 1}), {f"answers.{name}"}) for name in BOOLEAN_FIELDS],
    *[(f"{name}-zero", answers(**{name: 0}), {f"answers.{name}"}) for name in BOOLEAN_FIELDS[:3]],
    *[(f"{name}-string", answers(**{name: "true"}), {f"answers.{name}"}) for name in BOOLEAN_FIELDS[:3]],
    *[(f"{name}-null", answers(**{name: None}), {f"answers.{name}"}) for name in BOOLEAN_FIELDS[:3]],
    *[(f"cssrs-{name}-one", answers(cssrs={**cssrs(suicidal_thoughts=True, method=False, intent=False,
                                                   plan=False, behavior=True, behavior_within_3_months=False),
                                           name: 1}),
       {f"answers.cssrs.{name}"}) for name in CSSRS_FIELDS],
    ("cssrs-intent-string", answers(cssrs=cssrs(intent="no")), {"answers.cssrs.intent"}),
    ("cssrs-not-object", answers(cssrs=[False, False, False]), {"answers.cssrs"}),
    ("cssrs-null", answers(cssrs=None), {"answers.cssrs"}),
    ("phq9-item-string", answers(phq9=[2, 2, 2, 2, 2, 1, 1, 1, "0"]), {"answers.phq9.8"}),
    ("phq9-item-float", answers(phq9=[2, 2, 2, 2, 2.0, 1, 1, 1, 0]), {"answers.phq9.4"}),
    ("phq9-item-boolean", answers(phq9=[True, 2, 2, 2, 2, 1, 1, 1, 0]), {"answers.phq9.0"}),
    ("phq9-item-null", answers(phq9=[2, 2, 2, 2, 2, 1, 1, None, 0]), {"answers.phq9.7"}),
    ("phq9-string", answers(phq9="222221110"), {"answers.phq9"}),
    ("phq9-object", answers(phq9={"1": 2}), {"answers.phq9"}),
    ("medications-string", answers(medications="maoi"), {"answers.medications"}),
    ("medications-null", answers(medications=None), {"answers.medications"}),
    ("medication-not-string", answers(medications=[1]), {"answers.medications.0"}),
    *[(f"{name}-not-string", answers(**{name: 1}), {f"answers.{name}"}) for name in ENUM_FIELDS],
    *[(f"{name}-null", answers(**{name: None}), {f"answers.{name}"}) for name in ENUM_FIELDS],
    # out of range
    ("age-121", answers(age=121), {"answers.age"}),
    ("age-negative", answers(age=-1), {"answers.age"}),
    ("trials-negative", answers(failed_antidepressant_trials=-1), {"answers.failed_antidepressant_trials"}),
    ("trials-51", answers(failed_antidepressant_trials=51), {"answers.failed_antidepressant_trials"}),
    ("weight-19.9", answers(weight_kg=19.9), {"answers.weight_kg"}),
    ("weight-350.1", answers(weight_kg=350.1), {"answers.weight_kg"}),
    ("weight-zero", answers(weight_kg=0), {"answers.weight_kg"}),
    ("weight-negative", answers(weight_kg=-70), {"answers.weight_kg"}),
    ("weight-huge", answers(weight_kg=10**400), {"answers.weight_kg"}),
    ("systolic-59", answers(bp_systolic=59, bp_diastolic=40), {"answers.bp_systolic"}),
    ("systolic-301", answers(bp_systolic=301), {"answers.bp_systolic"}),
    ("diastolic-29", answers(bp_diastolic=29), {"answers.bp_diastolic"}),
    ("diastolic-201", answers(bp_systolic=250, bp_diastolic=201), {"answers.bp_diastolic"}),
    ("phq9-item-4", answers(phq9=[2, 2, 2, 2, 4, 1, 1, 1, 0]), {"answers.phq9.4"}),
    ("phq9-item9-4", answers(phq9=[2, 2, 2, 2, 2, 1, 1, 1, 4]), {"answers.phq9.8"}),
    ("phq9-item-negative", answers(phq9=[-1, 2, 2, 2, 2, 1, 1, 1, 0]), {"answers.phq9.0"}),
    ("phq9-8-items", answers(phq9=[2, 2, 2, 2, 2, 1, 1, 1]), {"answers.phq9"}),
    ("phq9-10-items", answers(phq9=[2, 2, 2, 2, 2, 1, 1, 1, 0, 0]), {"answers.phq9"}),
    ("phq9-empty", answers(phq9=[]), {"answers.phq9"}),
    # bad enumeration values
    *[(f"{name}-bad", answers(**{name: "sometimes"}), {f"answers.{name}"}) for name in ENUM_FIELDS],
    *[(f"{name}-capitalised", answers(**{name: values[-1].upper()}), {f"answers.{name}"})
      for name, values in ENUM_FIELDS.items()],
    ("medication-unknown", answers(medications=["aspirin"]), {"answers.medications.0"}),
    ("medication-unknown-second", answers(medications=["maoi", "ssri"]), {"answers.medications.1"}),
    ("medication-capitalised", answers(medications=["MAOI"]), {"answers.medications.0"}),
    # blood pressure: both or neither, the lower number below the upper
    ("only-systolic", answers(bp_diastolic=DROP), {"answers.bp_diastolic"}),
    ("only-diastolic", answers(bp_systolic=DROP), {"answers.bp_systolic"}),
    ("diastolic-equals-systolic", answers(bp_systolic=120, bp_diastolic=120), {"answers.bp_diastolic"}),
    ("diastolic-above-systolic", answers(bp_systolic=80, bp_diastolic=120), {"answers.bp_diastolic"}),
    # medications listed once each
    ("duplicate-medication", answers(medications=["maoi", "maoi"]), {"answers.medications"}),
    ("duplicate-medication-among-others", answers(medications=["benzodiazepine", "stimulant", "benzodiazepine"]),
     {"answers.medications"}),
    # C-SSRS follow-ups
    *[(f"suicidal-thoughts-without-{name}", answers(cssrs=_missing_follow_up(name)), {f"answers.cssrs.{name}"})
      for name in ("method", "intent", "plan")],
    ("suicidal-thoughts-without-follow-ups", answers(cssrs=cssrs(suicidal_thoughts=True)),
     {"answers.cssrs.method", "answers.cssrs.intent", "answers.cssrs.plan"}),
    ("behavior-without-when", answers(cssrs=cssrs(behavior=True)), {"answers.cssrs.behavior_within_3_months"}),
    ("behavior-with-null-when", answers(cssrs=cssrs(behavior=True, behavior_within_3_months=None)),
     {"answers.cssrs.behavior_within_3_months"}),
]
INVALID_IDS = [case[0] for case in INVALID]
assert len(set(INVALID_IDS)) == len(INVALID_IDS)


@pytest.mark.parametrize(("answers_", "fields"), [case[1:] for case in INVALID], ids=INVALID_IDS)
def test_invalid_answers_name_the_field(answers_, fields):
    with pytest.raises(ValidationFailed) as caught:
        validate_answers(answers_)
    error = caught.value
    assert (error.status, error.code) == (422, "validation_failed")
    assert set(error.fields) == fields
    for messages in error.fields.values():
        assert messages and all(isinstance(message, str) and message for message in messages)


@pytest.mark.parametrize("value", [None, [], [BASELINE], "answers", 1, True])
def test_answers_must_be_an_object(value):
    with pytest.raises(ValidationFailed) as caught:
        validate_answers(value)
    assert set(caught.value.fields) == {"answers"}


def test_several_errors_are_all_named():
    with pytest.raises(ValidationFailed) as caught:
        validate_answers(answers(age="old", glaucoma=1, psychosis="maybe", phq9=[0, 0, 9, 0, 0, 0, 0, 0, 0],
                                 cssrs=cssrs(behavior=DROP), extra=True))
    assert set(caught.value.fields) == {"answers.age", "answers.glaucoma", "answers.psychosis", "answers.phq9.2",
                                        "answers.cssrs.behavior", "answers.extra"}


def test_validation_never_defaults_a_missing_field():
    checked = validate_answers(answers(bp_systolic=DROP, bp_diastolic=DROP))
    assert "bp_systolic" not in checked and "bp_diastolic" not in checked
    assert checked["cssrs"] == BASELINE["cssrs"]  # no follow-up invented


def test_valid_answers_come_back_unchanged():
    assert validate_answers(answers()) == {**answers(), "weight_kg": 70.0}
    full = answers(medications=list(MEDICATIONS), cssrs=cssrs(suicidal_thoughts=True, method=False, intent=False,
                                                              plan=False, behavior=True,
                                                              behavior_within_3_months=False))
    assert validate_answers(full) == {**full, "weight_kg": 70.0}


def test_validation_does_not_change_the_input():
    original = answers(cssrs=cssrs(intent=True), medications=["maoi"])
    kept = copy.deepcopy(original)
    validate_answers(original)
    evaluate(validate_answers(original))
    assert original == kept


def test_cssrs_follow_ups_may_be_omitted_after_no_to_suicidal_thoughts():
    checked = validate_answers(answers(cssrs={"wish_dead": True, "suicidal_thoughts": False, "behavior": False}))
    assert set(checked["cssrs"]) == {"wish_dead", "suicidal_thoughts", "behavior"}
    result = evaluate(checked)
    assert (result.outcome, codes(result), result.urgent) == ("review", ["cssrs_ideation"], False)


def test_behavior_when_may_be_omitted_after_no_to_behavior():
    checked = validate_answers(answers(cssrs=cssrs(behavior=False)))
    assert "behavior_within_3_months" not in checked["cssrs"]
    assert evaluate(checked).outcome == "eligible"


@pytest.mark.parametrize("name", ["intent", "plan"])
def test_intent_or_plan_after_no_to_suicidal_thoughts_is_kept_and_is_a_crisis(name):
    # Safety over tidiness: a yes the questionnaire did not ask for is still a yes.
    checked = validate_answers(answers(cssrs=cssrs(wish_dead=False, suicidal_thoughts=False, **{name: True})))
    assert checked["cssrs"][name] is True
    result = evaluate(checked)
    assert result.outcome == "crisis"
    assert result.urgent is True
    assert codes(result) == ["cssrs_intent_or_plan"]


def test_method_after_no_to_suicidal_thoughts_is_kept_and_is_an_urgent_review():
    checked = validate_answers(answers(cssrs=cssrs(method=True)))
    assert checked["cssrs"]["method"] is True
    result = evaluate(checked)
    assert (result.outcome, result.urgent, codes(result)) == ("review", True, ["cssrs_method"])


# --- Property: random valid answers, built from the schema ------------------------------------------------------

def _validator(field, kind):
    return next((v for v in field.validators if isinstance(v, kind)), None)


def _range(field) -> tuple:
    found = _validator(field, mvalidate.Range)
    assert found is not None and found.min_inclusive and found.max_inclusive, field
    return found.min, found.max


# Values at the edges of the rules, mixed into the schema's ranges so the edges are tried often.
EDGES = {
    "age": [17, 18],
    "weight_kg": [39.9, 40, 40.0, 150, 150.0, 150.1],
    "failed_antidepressant_trials": [1, 2],
    "bp_systolic": [139, 140, 179, 180],
    "bp_diastolic": [89, 90, 109, 110],
}


def _strategy(name, field):
    edges = EDGES.get(name, [])
    if isinstance(field, mfields.Boolean):
        return st.booleans()
    if isinstance(field, mfields.Integer):
        low, high = _range(field)
        return st.one_of(st.sampled_from(edges), st.integers(low, high)) if edges else st.integers(low, high)
    if isinstance(field, mfields.Float):
        low, high = _range(field)
        numbers = st.one_of(st.integers(low, high), st.floats(low, high, allow_nan=False, allow_infinity=False))
        return st.one_of(st.sampled_from(edges), numbers) if edges else numbers
    if isinstance(field, mfields.String):
        return st.sampled_from(_validator(field, mvalidate.OneOf).choices)
    if isinstance(field, mfields.List):
        length = _validator(field, mvalidate.Length)
        inner = field.inner
        if _validator(inner, mvalidate.OneOf) is not None:
            return st.lists(st.sampled_from(_validator(inner, mvalidate.OneOf).choices), unique=True,
                            max_size=length.max)
        return st.lists(_strategy(f"{name}[]", inner), min_size=length.equal, max_size=length.equal)
    raise AssertionError(f"No strategy for {name}: {field!r}")


def test_schema_fields_are_the_contract_questions():
    assert set(ANSWERS.fields) == set(BASELINE) | {"bp_systolic", "bp_diastolic"}
    assert set(CssrsAnswers().fields) == set(CSSRS_FIELDS)
    for name, values in ENUM_FIELDS.items():
        assert tuple(_validator(ANSWERS.fields[name], mvalidate.OneOf).choices) == values
    assert tuple(_validator(ANSWERS.fields["medications"].inner, mvalidate.OneOf).choices) == MEDICATIONS
    assert _range(ANSWERS.fields["phq9"].inner) == (0, 3)
    assert _validator(ANSWERS.fields["phq9"], mvalidate.Length).equal == 9


@st.composite
def cssrs_answers(draw):
    schema_fields = CssrsAnswers().fields
    result = {name: draw(_strategy(name, schema_fields[name]))
              for name in ("wish_dead", "suicidal_thoughts", "behavior")}
    for name in ("method", "intent", "plan"):
        # required after a yes to suicidal thoughts; may be given (or not) after a no
        if result["suicidal_thoughts"] or draw(st.booleans()):
            result[name] = draw(st.booleans())
    if result["behavior"] or draw(st.booleans()):
        result["behavior_within_3_months"] = draw(st.booleans())
    return result


@st.composite
def valid_answers(draw):
    result = {}
    for name, field in ANSWERS.fields.items():
        if name in ("bp_systolic", "bp_diastolic"):
            assert not field.required
            continue
        assert field.required, name
        result[name] = draw(cssrs_answers() if name == "cssrs" else _strategy(name, field))
    if draw(st.booleans()):
        systolic = draw(_strategy("bp_systolic", ANSWERS.fields["bp_systolic"]))
        diastolic = draw(_strategy("bp_diastolic", ANSWERS.fields["bp_diastolic"]).filter(lambda d: d < systolic))
        result["bp_systolic"], result["bp_diastolic"] = systolic, diastolic
    return result


def oracle(a: dict) -> set[str]:
    """The codes that should fire, read independently from the table in screening.md."""
    c = a["cssrs"]
    systolic, diastolic = a.get("bp_systolic"), a.get("bp_diastolic")
    conditions = {
        "cssrs_intent_or_plan": c.get("intent") is True or c.get("plan") is True,
        "cssrs_recent_behavior": c["behavior"] and c.get("behavior_within_3_months") is True,
        "cssrs_method": c.get("method") is True,
        "cssrs_past_behavior": c["behavior"] and c.get("behavior_within_3_months") is not True,
        "cssrs_ideation": c["wish_dead"] or c["suicidal_thoughts"],
        "phq9_self_harm_item": a["phq9"][8] >= 1,
        "under_18": a["age"] < 18,
        "vascular_contraindication": a["aneurysm_avm_or_brain_bleed"],
        "ketamine_allergy": a["ketamine_allergy"],
        "pregnancy": a["pregnant_or_breastfeeding"],
        "active_psychosis": a["psychosis"] == "current",
        "mania": a["bipolar"] == "currently_manic",
        "recent_cardiac_event": a["cardiac_event"] == "within_12_months",
        "active_substance_use": a["substance_use"] == "active",
        "severe_hypertension": a["hypertension"] == "uncontrolled"
        or (systolic is not None and (systolic >= 180 or diastolic >= 110)),
        "elevated_bp": systolic is not None and (140 <= systolic <= 179 or 90 <= diastolic <= 109),
        "bp_unknown": systolic is None and diastolic is None,
        "past_cardiac_event": a["cardiac_event"] == "over_12_months",
        "past_psychosis": a["psychosis"] == "past_stable",
        "family_psychosis": a["family_history_psychosis"],
        "bipolar_stable": a["bipolar"] == "stable",
        "early_recovery": a["substance_use"] == "recovery_under_12_months",
        "neuro_condition": a["stroke_tia"] or a["raised_intracranial_pressure"] or a["glaucoma"]
        or a["seizure_disorder"],
        "medical_condition": a["hyperthyroidism_uncontrolled"] or a["severe_liver_disease"]
        or a["severe_lung_disease"],
        "interacting_medication": len(a["medications"]) > 0,
        "bladder": a["bladder_pain_or_interstitial_cystitis"],
        "prior_reaction": a["prior_adverse_ketamine_reaction"],
        "weight_out_of_range": a["weight_kg"] < 40 or a["weight_kg"] > 150,
        "not_treatment_resistant": a["failed_antidepressant_trials"] < 2,
        "low_phq9": sum(a["phq9"]) < 10,
    }
    assert set(conditions) == set(CONTRACT_V1)
    return {code for code, fires in conditions.items() if fires}


@settings(max_examples=200)
@given(valid_answers())
def test_property_outcome_is_the_highest_reason_and_matches_the_table(raw):
    kept = copy.deepcopy(raw)
    checked = validate_answers(raw)  # every generated answer set is valid
    result = evaluate(checked)

    fired = codes(result)
    assert len(fired) == len(set(fired))
    assert set(fired) == oracle(raw)
    assert all(reason.outcome == CONTRACT_V1[reason.code] for reason in result.reasons)
    expected = max((reason.outcome for reason in result.reasons), key=PRECEDENCE.index, default="eligible")
    assert result.outcome == expected
    assert (result.outcome == "eligible") is (len(result.reasons) == 0)
    assert result.urgent is (result.outcome == "crisis" or bool(set(fired) & URGENT_CODES))
    assert result.phq9_total == sum(raw["phq9"])
    assert result.phq9_severity == next(band for low, high, band in PHQ9_BANDS if low <= sum(raw["phq9"]) <= high)
    assert result.rules_version == 1
    order = [rule.code for rule in RULE_SETS[1]]
    assert fired == sorted(fired, key=order.index)

    # deterministic, and neither validating nor evaluating changes the answers
    assert evaluate(copy.deepcopy(checked)) == result
    assert evaluate(validate_answers(copy.deepcopy(kept))) == result
    assert raw == kept
