"""The screening rules, as data (domain/screening.md). Pure: answers in, a result out.

A rule is a row: a stable code, the outcome it gives, whether it is urgent, the message the applicant reads,
and a condition written in a small vocabulary of facts and tests below. A fact is a rule input that the
catalogue of questions names and feeds (retreat.screening.questions: each question's `fact`, and the totals).
Rule sets are versioned; a stored result records its version, so a later change of rules never rewrites an old
result.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from retreat.screening import questions

OUTCOMES = ("eligible", "review", "ineligible", "crisis")  # lowest to highest precedence
PHQ9_BANDS = ((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 19, "moderately_severe"),
              (20, 27, "severe"))
PHQ9_BAND_WORDS = {band: band.replace("_", " ") for _, _, band in PHQ9_BANDS}  # "moderately severe"


# --- Conditions: nested tuples, so a rule set is plain data -------------------------------------------------

def is_true(fact):
    return ("is_true", fact)


def equals(fact, value):
    return ("equals", fact, value)


def at_least(fact, number):
    return ("at_least", fact, number)


def below(fact, number):
    return ("below", fact, number)


def above(fact, number):
    return ("above", fact, number)


def between(fact, low, high):
    """Inclusive at both ends."""
    return ("between", fact, low, high)


def missing(fact):
    return ("missing", fact)


def not_empty(fact):
    return ("not_empty", fact)


def any_of(*conditions):
    return ("any", *conditions)


def all_of(*conditions):
    return ("all", *conditions)


def negate(condition):
    return ("not", condition)


def facts_read(condition) -> set[str]:
    """The facts a condition tests."""
    op, *args = condition
    if op in ("any", "all"):
        return set().union(*(facts_read(each) for each in args))
    if op == "not":
        return facts_read(args[0])
    return {args[0]}


def holds(condition, facts: Mapping[str, object]) -> bool:
    """Evaluate a condition against the facts; a test on a missing number is false."""
    op, *args = condition
    if op == "any":
        return any(holds(c, facts) for c in args)
    if op == "all":
        return all(holds(c, facts) for c in args)
    if op == "not":
        return not holds(args[0], facts)
    value = facts.get(args[0])
    if op == "is_true":
        return value is True
    if op == "equals":
        return value == args[1]
    if op == "missing":
        return value is None
    if op == "not_empty":
        return bool(value)
    if value is None:
        return False
    if op == "at_least":
        return value >= args[1]
    if op == "below":
        return value < args[1]
    if op == "above":
        return value > args[1]
    if op == "between":
        return args[1] <= value <= args[2]
    raise ValueError(f"Unknown condition {op!r}")


@dataclass(frozen=True)
class Rule:
    code: str
    outcome: str
    message: str
    when: tuple
    urgent: bool = False


RULE_SETS: dict[int, tuple[Rule, ...]] = {
    1: (
        Rule("cssrs_intent_or_plan", "crisis",
             "You told us you have been thinking about acting on thoughts of ending your life. Your safety "
             "comes first: please reach out to a crisis line on this page now.",
             any_of(is_true("cssrs.intent"), is_true("cssrs.plan"))),
        Rule("cssrs_recent_behavior", "crisis",
             "You told us you have done something, in the past three months, to end your life or prepare to. "
             "Your safety comes first: please reach out to a crisis line on this page now.",
             all_of(is_true("cssrs.behavior"), is_true("cssrs.behavior_within_3_months"))),
        Rule("cssrs_method", "review",
             "You told us you have thought about how you might end your life. A clinician will reach out to you "
             "soon, and the crisis lines on this page are there for you at any hour.",
             is_true("cssrs.method"), urgent=True),
        Rule("cssrs_past_behavior", "review",
             "You told us that at some point you did something to end your life or prepare to. A clinician will "
             "talk this through with you before a retreat.",
             all_of(is_true("cssrs.behavior"), negate(is_true("cssrs.behavior_within_3_months")))),
        Rule("cssrs_ideation", "review",
             "You told us about thoughts of being dead or of ending your life. Many people with depression have "
             "them; a clinician will talk with you about them before a retreat.",
             any_of(is_true("cssrs.wish_dead"), is_true("cssrs.suicidal_thoughts"))),
        Rule("phq9_self_harm_item", "review",
             "You told us about thoughts that you would be better off dead or of hurting yourself. A clinician "
             "will reach out to you soon, and the crisis lines on this page are there for you at any hour.",
             at_least("phq9_item9", 1), urgent=True),
        Rule("under_18", "ineligible",
             "Ketamine treatment in our programs is for adults aged 18 and over.",
             below("age", 18)),
        Rule("vascular_contraindication", "ineligible",
             "Ketamine raises blood pressure for a while, which is not safe with an aneurysm, an arteriovenous "
             "malformation or a past bleed in the brain.",
             is_true("aneurysm_avm_or_brain_bleed")),
        Rule("ketamine_allergy", "ineligible",
             "You told us you are allergic to ketamine or esketamine, so this treatment is not safe for you.",
             is_true("ketamine_allergy")),
        Rule("pregnancy", "ineligible",
             "Ketamine is not used during pregnancy or while breastfeeding.",
             is_true("pregnant_or_breastfeeding")),
        Rule("active_psychosis", "ineligible",
             "Ketamine can make psychotic symptoms worse, so it is not offered while they are present or with a "
             "schizophrenia-spectrum diagnosis.",
             equals("psychosis", "current")),
        Rule("mania", "ineligible",
             "Ketamine is not given during a manic episode.",
             equals("bipolar", "currently_manic")),
        Rule("recent_cardiac_event", "ineligible",
             "A heart attack, unstable angina or a heart procedure in the past 12 months makes ketamine unsafe for "
             "now.",
             equals("cardiac_event", "within_12_months")),
        Rule("active_substance_use", "ineligible",
             "Ketamine treatment is not offered during active substance use.",
             equals("substance_use", "active")),
        Rule("severe_hypertension", "ineligible",
             "Your blood pressure needs to be under control first (below 180/110, and treated if you have high "
             "blood pressure). Once it is, you are welcome to screen again.",
             any_of(equals("hypertension", "uncontrolled"), at_least("bp_systolic", 180),
                    at_least("bp_diastolic", 110))),
        Rule("elevated_bp", "review",
             "Your blood pressure reading is raised; a clinician will check whether it is safe for ketamine.",
             any_of(between("bp_systolic", 140, 179), between("bp_diastolic", 90, 109))),
        Rule("bp_unknown", "review",
             "We need a recent blood pressure reading; a clinician will ask you for one.",
             missing("bp_systolic")),
        Rule("past_cardiac_event", "review",
             "A past heart event means a clinician will review your heart health first.",
             equals("cardiac_event", "over_12_months")),
        Rule("past_psychosis", "review",
             "Past psychotic symptoms need a clinician's review before ketamine.",
             equals("psychosis", "past_stable")),
        Rule("family_psychosis", "review",
             "A family history of psychosis needs a clinician's review before ketamine.",
             is_true("family_history_psychosis")),
        Rule("bipolar_stable", "review",
             "With bipolar disorder, a clinician will plan treatment with you to keep your mood stable.",
             equals("bipolar", "stable")),
        Rule("early_recovery", "review",
             "Recovery of less than a year needs a clinician's review, to protect your recovery.",
             equals("substance_use", "recovery_under_12_months")),
        Rule("neuro_condition", "review",
             "A past stroke or TIA, raised pressure in the head, glaucoma or a seizure disorder needs a "
             "clinician's review.",
             any_of(is_true("stroke_tia"), is_true("raised_intracranial_pressure"), is_true("glaucoma"),
                    is_true("seizure_disorder"))),
        Rule("medical_condition", "review",
             "An overactive thyroid that is not under control, or serious liver or lung disease, needs a "
             "clinician's review.",
             any_of(is_true("hyperthyroidism_uncontrolled"), is_true("severe_liver_disease"),
                    is_true("severe_lung_disease"))),
        Rule("interacting_medication", "review",
             "Some of your medicines can change how ketamine works; a clinician will go through them with you.",
             not_empty("medications")),
        Rule("bladder", "review",
             "Ketamine can irritate the bladder, so a clinician will review your bladder symptoms.",
             is_true("bladder_pain_or_interstitial_cystitis")),
        Rule("prior_reaction", "review",
             "A bad reaction to ketamine before needs a clinician's review.",
             is_true("prior_adverse_ketamine_reaction")),
        Rule("weight_out_of_range", "review",
             "Dosing is by weight; a clinician will check the dose for your weight.",
             any_of(below("weight_kg", 40), above("weight_kg", 150))),
        Rule("not_treatment_resistant", "review",
             "These programs are for depression that has not improved after at least two antidepressants; a "
             "clinician will talk with you about whether this is the right next step.",
             below("failed_antidepressant_trials", 2)),
        Rule("low_phq9", "review",
             "Your answers suggest milder depression right now; a clinician will talk with you about whether "
             "an intensive program is the right step.",
             below("phq9_total", 10)),
    ),
}
CURRENT_RULES_VERSION = max(RULE_SETS)

# Each rule in a clinician's words, for the review queue and the review page (the message above is what the
# applicant read). Keyed by code, which keeps its meaning in every version; tests hold that every rule has one.
RULE_TITLES = {
    "cssrs_intent_or_plan": "C-SSRS: intent or a plan to act on suicidal thoughts, past month",
    "cssrs_recent_behavior": "C-SSRS: suicidal behaviour within the past 3 months",
    "cssrs_method": "C-SSRS: has thought about a method",
    "cssrs_past_behavior": "C-SSRS: suicidal behaviour, more than 3 months ago",
    "cssrs_ideation": "C-SSRS: wish to be dead or suicidal thoughts",
    "phq9_self_harm_item": "PHQ-9 item 9: thoughts of being better off dead or of self-harm",
    "under_18": "Under 18",
    "vascular_contraindication": "Aneurysm, arteriovenous malformation or bleed in the brain",
    "ketamine_allergy": "Allergy to ketamine or esketamine",
    "pregnancy": "Pregnant or breastfeeding",
    "active_psychosis": "Current psychosis or a schizophrenia-spectrum diagnosis",
    "mania": "Currently manic",
    "recent_cardiac_event": "Heart attack, unstable angina or revascularisation within 12 months",
    "active_substance_use": "Active substance use",
    "severe_hypertension": "Uncontrolled hypertension, or a reading of 180/110 or more",
    "elevated_bp": "Raised blood pressure (systolic 140-179 or diastolic 90-109)",
    "bp_unknown": "No recent blood pressure reading",
    "past_cardiac_event": "Cardiac event more than 12 months ago",
    "past_psychosis": "Past psychosis, now stable",
    "family_psychosis": "Psychosis in a parent or sibling",
    "bipolar_stable": "Bipolar disorder, stable",
    "early_recovery": "In recovery from substance use for under 12 months",
    "neuro_condition": "Stroke or TIA, raised intracranial pressure, glaucoma or a seizure disorder",
    "medical_condition": "Uncontrolled hyperthyroidism, or severe liver or lung disease",
    "interacting_medication": "Takes a medicine that interacts with ketamine",
    "bladder": "Bladder pain or interstitial cystitis",
    "prior_reaction": "A bad (non-allergic) reaction to ketamine before",
    "weight_out_of_range": "Weight under 40 kg or over 150 kg",
    "not_treatment_resistant": "Fewer than 2 adequate antidepressant trials",
    "low_phq9": "PHQ-9 total under 10",
}


def rule_title(code: str, message: str = "") -> str:
    """A rule in words: its title, else (a code no version knows any more) the message stored with it."""
    return RULE_TITLES.get(code) or message or code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    outcome: str


@dataclass(frozen=True)
class Result:
    outcome: str
    reasons: tuple[Reason, ...]
    urgent: bool
    phq9_total: int | None
    phq9_severity: str | None
    rules_version: int


def phq9_severity(total: int) -> str:
    for low, high, band in PHQ9_BANDS:
        if low <= total <= high:
            return band
    raise ValueError(f"PHQ-9 total out of range: {total}")


def facts_from(answers: Mapping[str, object]) -> dict[str, object]:
    """The rule inputs of the answers, as the catalogue of questions names them: each answer's fact (cssrs.* as
    dotted names, PHQ-9 item 9 as phq9_item9) and the PHQ-9 total."""
    return questions.facts(answers)


def evaluate(answers: Mapping[str, object], version: int = CURRENT_RULES_VERSION) -> Result:
    """Every rule of the version that fires, and the highest outcome among them (eligible if none)."""
    facts = facts_from(answers)
    fired = [rule for rule in RULE_SETS[version] if holds(rule.when, facts)]
    outcome = max((rule.outcome for rule in fired), key=OUTCOMES.index, default="eligible")
    total = facts.get("phq9_total")
    return Result(
        outcome=outcome,
        reasons=tuple(Reason(rule.code, rule.message, rule.outcome) for rule in fired),
        urgent=any(rule.urgent for rule in fired) or outcome == "crisis",
        phq9_total=total,
        phq9_severity=phq9_severity(total) if total is not None else None,
        rules_version=version,
    )
