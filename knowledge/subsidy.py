"""The shape of subsidy.yaml: the rules, questions and wording of the 経営発達補助金 pre-eligibility check."""
from __future__ import annotations

import string
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from knowledge.loader import Parsed, Problem, load_file
from knowledge.schema import ContactsFile, EntryId, Label, NonEmpty, Strict

FILE = "subsidy.yaml"
# LINE shows at most 13 quick-reply buttons; every question also offers 戻る and やめる.
MAX_CHOICES = 13
NAVIGATION_CHOICES = 2

# The questions the verdict needs, by id, and the values their choices may carry.
QUESTION_VALUES: dict[str, set[str]] = {
    "location": {"inside", "outside"},
    "industry": set(),  # an industry id
    "capital": {"individual", "unknown"},  # or a min/max range in yen
    "employees": set(),  # a min/max range of people
    "issue": {"other"},  # or an issue id
    "cost": {"undecided"},  # or a min/max amount in yen
    "recommendation": {"yes", "not_yet", "no", "unknown"},
}
_RANGED = {"capital", "employees", "cost"}


def placeholders(template: str) -> set[str]:
    """Return the {names} a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class Templates(Strict):
    """Wording with {placeholders}; each field may use only the placeholders listed in ALLOWED."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {}

    @field_validator("*")
    @classmethod
    def _known_placeholders(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = cls.ALLOWED.get(info.field_name or "")
        if allowed is None or not isinstance(value, str):
            return value
        try:
            unknown = placeholders(value) - allowed
        except ValueError:
            raise ValueError("{ と } の対応が崩れています。確認してください") from None
        if unknown:
            usable = "、".join(f"{{{p}}}" for p in sorted(allowed)) or "なし"
            raise ValueError(f"使えない差し込み {'、'.join(f'{{{u}}}' for u in sorted(unknown))} があります"
                             f"（使えるもの：{usable}）")
        return value


class Rate(Strict):
    """The share of the planned cost the subsidy pays, as a fraction."""

    numerator: int = Field(gt=0)
    denominator: int = Field(gt=0)

    @model_validator(mode="after")
    def _at_most_one(self) -> "Rate":
        if self.numerator > self.denominator:
            raise ValueError("補助率（numerator/denominator）は1以下にしてください")
        return self

    def __str__(self) -> str:
        return f"{self.denominator}分の{self.numerator}"


class Call(Strict):
    """One call for applications: the days it is open (both inclusive)."""

    name: NonEmpty
    label: NonEmpty  # as users read it: 平成29年8月21日～9月29日
    opens: date
    closes: date

    @model_validator(mode="after")
    def _opens_first(self) -> "Call":
        if self.opens > self.closes:
            raise ValueError("opens（公募開始日）は closes（締切日）以前の日付にしてください")
        return self


class Region(Strict):
    """Where applicants must be, and the words that name places inside and outside it."""

    name: NonEmpty
    names: list[NonEmpty] = Field(min_length=1)
    districts: list[NonEmpty] = []
    negations: list[NonEmpty] = []
    inside_words: list[NonEmpty] = []
    outside_words: list[NonEmpty] = []
    home_prefecture: NonEmpty | None = None


class Industry(Strict):
    """An industry of the 中小企業基本法 with its thresholds."""

    id: EntryId
    name: NonEmpty
    capital_max_yen: int = Field(gt=0)
    employees_max: int = Field(gt=0)
    small_employees_max: int = Field(ge=0)
    keywords: list[NonEmpty] = []

    @model_validator(mode="after")
    def _small_within_medium(self) -> "Industry":
        if self.small_employees_max > self.employees_max:
            raise ValueError("small_employees_max（小規模企業の従業員数）は employees_max 以下にしてください")
        return self


class Issue(Strict):
    """One of the common issues an undertaking must address, with the flyer's examples."""

    id: EntryId
    name: NonEmpty
    examples: NonEmpty
    keywords: list[NonEmpty] = []


class Option(Strict):
    """A choice of a question: a value, or a range (min..max, max omitted for "or more")."""

    label: Label
    value: NonEmpty | None = None
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _value_or_range(self) -> "Option":
        if (self.value is None) == (self.min is None):
            raise ValueError("選択肢には value か min（と max）のどちらか一方を書いてください")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max は min 以上にしてください")
        return self

    @property
    def key(self) -> str:
        """Return what a tap on this choice carries (stable when choices are reordered)."""
        return self.value if self.value is not None else f"{self.min}-{'' if self.max is None else self.max}"


class Question(Strict):
    """One question of the questionnaire."""

    id: NonEmpty
    name: NonEmpty  # what the answer is called in the summary ("従業員数")
    prompt: NonEmpty
    example: NonEmpty  # said again when an answer can't be understood
    choices: list[Option] = Field(min_length=1, max_length=MAX_CHOICES - NAVIGATION_CHOICES)

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str) -> str:
        if value not in QUESTION_VALUES:
            raise ValueError(f"質問の id「{value}」は使えません（使えるもの：{'、'.join(QUESTION_VALUES)}）")
        return value

    def option(self, key: str) -> Option | None:
        """Return the choice a tap carried."""
        return next((o for o in self.choices if o.key == key), None)


class Words(Strict):
    """Words used to read typed answers."""

    start: list[NonEmpty] = Field(min_length=1)
    start_subjects: list[NonEmpty] = []
    start_intents: list[NonEmpty] = []
    how_much: list[NonEmpty] = []  # "how much" (いくら, どれくらい): a question of the program's amounts, not of us
    # what the money would pay for (設備, アプリ): a question of what the program covers, not of us
    spending: list[NonEmpty] = []
    back: list[NonEmpty] = Field(min_length=1)
    not_yet: list[NonEmpty] = []
    no: list[NonEmpty] = Field(min_length=1)
    yes: list[NonEmpty] = Field(min_length=1)
    unknown: list[NonEmpty] = []
    individual: list[NonEmpty] = []
    alone: list[NonEmpty] = []
    nobody: list[NonEmpty] = []
    question_markers: list[NonEmpty] = []


class FlowMessages(Templates):
    """What the questionnaire says between questions."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {
        "intro": {"program", "total"}, "progress": {"number", "total"}, "acknowledged": {"answer"},
        "not_understood": set(), "resumed": set(), "restarted": set(), "first_question": set(), "cancelled": set(),
    }

    intro: NonEmpty
    progress: NonEmpty
    acknowledged: NonEmpty
    not_understood: NonEmpty
    resumed: NonEmpty
    restarted: NonEmpty
    first_question: NonEmpty
    cancelled: NonEmpty
    back_label: Label
    cancel_label: Label
    other_issue_answer: NonEmpty
    nobody_answer: NonEmpty


class Marks(Strict):
    """The marks of a criterion's result."""

    ok: NonEmpty
    ng: NonEmpty
    check: NonEmpty


class LocationWording(Templates):
    """Reasons for the location criterion."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {"ok": {"answer"}, "ng": {"answer"}}
    name: NonEmpty
    ok: NonEmpty
    ng: NonEmpty


_SIZE = {"industry", "small_max", "employees_max", "capital_max"}


class SizeWording(Templates):
    """Reasons for the size criterion (小規模企業, 中小企業 or larger)."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {k: _SIZE for k in
                                               ("small", "medium_by_employees", "medium_by_capital", "large", "check")}
    name: NonEmpty
    small: NonEmpty
    medium_by_employees: NonEmpty
    medium_by_capital: NonEmpty
    large: NonEmpty
    check: NonEmpty


class IssueWording(Templates):
    """Reasons for the issue criterion."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {"ok": {"issue"}, "check": {"issues"}}
    name: NonEmpty
    ok: NonEmpty
    check: NonEmpty


class CostWording(Templates):
    """Reasons for the planned-cost criterion."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {"ok": {"cost"}, "check": set()}
    name: NonEmpty
    ok: NonEmpty
    check: NonEmpty


class RecommendationWording(Templates):
    """Reasons for the recommendation criterion."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {"ok": set(), "check": {"recommenders"}}
    name: NonEmpty
    ok: NonEmpty
    check: NonEmpty


class WindowWording(Templates):
    """Reasons for the call-window criterion."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {"open": {"opens", "closes", "window"},
                                              "upcoming": {"opens", "closes", "window"},
                                              "closed": {"opens", "closes", "window"}}
    name: NonEmpty
    open: NonEmpty
    upcoming: NonEmpty
    closed: NonEmpty


class Criteria(Strict):
    """The wording of every criterion of the verdict."""

    location: LocationWording
    size: SizeWording
    issue: IssueWording
    cost: CostWording
    recommendation: RecommendationWording
    window: WindowWording


_ESTIMATE = {"amount", "cost", "rate", "cap", "raw"}


class VerdictWording(Templates):
    """What the verdict says."""

    ALLOWED: ClassVar[dict[str, set[str]]] = {
        "eligible": set(), "needs_check": set(), "not_eligible": set(),
        "window_closed": {"program", "window"},
        "estimate": _ESTIMATE, "estimate_capped": _ESTIMATE, "estimate_unknown": {"rate", "cap"},
        "next_steps": {"recommenders", "secretariat"}, "disclaimer": set(), "footer": {"source", "as_of"},
        "contact": {"name", "phone"},
    }

    title: NonEmpty
    alt_text: NonEmpty
    eligible: NonEmpty
    needs_check: NonEmpty
    not_eligible: NonEmpty
    window_closed: NonEmpty
    estimate: NonEmpty
    estimate_capped: NonEmpty
    estimate_unknown: NonEmpty
    next_steps: NonEmpty
    disclaimer: NonEmpty
    footer: NonEmpty
    contact: NonEmpty  # one desk: "{name}（☎{phone}）"
    contact_joiner: NonEmpty  # between desks: "または"
    handoff_label: Label
    restart_label: Label
    marks: Marks
    criteria: Criteria


class SubsidyFile(Strict):
    """subsidy.yaml: everything the eligibility questionnaire knows and says."""

    program: NonEmpty
    short_name: NonEmpty
    as_of: NonEmpty
    source: NonEmpty
    rate: Rate
    cap_yen: int = Field(gt=0)
    calls: list[Call] = Field(min_length=1)
    recommenders: list[EntryId] = Field(min_length=1)
    secretariat: EntryId
    region: Region
    industries: list[Industry] = Field(min_length=1)
    issues: list[Issue] = Field(min_length=1)
    questions: list[Question] = Field(min_length=1)
    words: Words
    messages: FlowMessages
    verdict: VerdictWording

    def question(self, question_id: str) -> Question:
        """Return a question by id."""
        return next(q for q in self.questions if q.id == question_id)

    def industry(self, industry_id: str) -> Industry:
        """Return an industry by id."""
        return next(i for i in self.industries if i.id == industry_id)

    def issue(self, issue_id: str) -> Issue | None:
        """Return an issue by id (None for "other")."""
        return next((i for i in self.issues if i.id == issue_id), None)


def load_subsidy(directory: Path, problems: list[Problem]) -> SubsidyFile | None:
    """Load subsidy.yaml and check what the schema alone can't (references, thresholds, question set)."""
    rules, parsed = load_file(directory, FILE, SubsidyFile, problems)
    if rules is None or parsed is None:
        return None
    found: list[Problem] = []
    _check_questions(rules, parsed, found)
    _check_bands(rules, parsed, found)
    _check_contacts(rules, parsed, directory, found)
    problems.extend(found)
    return None if found else rules


def _check_questions(rules: SubsidyFile, parsed: Parsed, found: list[Problem]) -> None:
    ids = [q.id for q in rules.questions]
    missing = [q for q in QUESTION_VALUES if q not in ids]
    if missing:
        found.append(Problem(FILE, parsed.line_of("questions"), f"質問 {'、'.join(missing)} がありません。追加してください。"))
    industries = {i.id for i in rules.industries}
    issues = {i.id for i in rules.issues}
    seen: set[str] = set()
    for qi, question in enumerate(rules.questions):
        if question.id in seen:
            found.append(Problem(FILE, parsed.line_of("questions", qi, "id"), f"質問「{question.id}」が重複しています。"))
        seen.add(question.id)
        allowed = QUESTION_VALUES[question.id] | (industries if question.id == "industry" else set()) \
            | (issues if question.id == "issue" else set())
        labels: set[str] = set()
        for ci, option in enumerate(question.choices):
            line = parsed.line_of("questions", qi, "choices", ci)
            if option.label in labels:
                found.append(Problem(FILE, line, f"ボタン「{option.label}」が重複しています。"))
            labels.add(option.label)
            if option.value is not None and option.value not in allowed:
                found.append(Problem(FILE, line, f"「{question.id}」の value「{option.value}」は使えません"
                                                 f"（使えるもの：{'、'.join(sorted(allowed))}）。"))
            if option.min is not None and question.id not in _RANGED:
                found.append(Problem(FILE, line, f"「{question.id}」の選択肢には min/max ではなく value を書いてください。"))
        if question.id == "industry":
            chosen = {o.value for o in question.choices}
            for industry in sorted(industries - chosen):
                found.append(Problem(FILE, parsed.line_of("questions", qi, "choices"),
                                     f"業種「{industry}」を選ぶボタンがありません。"))


def _check_bands(rules: SubsidyFile, parsed: Parsed, found: list[Problem]) -> None:
    """Each range choice must lie wholly on one side of every threshold, or the verdict could not tell."""
    thresholds = {
        "employees": {t for i in rules.industries for t in (i.employees_max, i.small_employees_max)},
        "capital": {i.capital_max_yen for i in rules.industries},
    }
    for qi, question in enumerate(rules.questions):
        for ci, option in enumerate(question.choices):
            if option.min is None or question.id not in thresholds:
                continue
            for t in sorted(thresholds[question.id]):
                if option.min <= t and (option.max is None or t < option.max):
                    found.append(Problem(FILE, parsed.line_of("questions", qi, "choices", ci),
                                         f"ボタン「{option.label}」の範囲が基準の {t:,} をまたいでいます。"
                                         f"基準の数字で範囲を分けてください。"))


def _check_contacts(rules: SubsidyFile, parsed: Parsed, directory: Path, found: list[Problem]) -> None:
    # contacts.yaml is loaded (and its own problems reported) by Knowledge.load; here only its ids matter.
    contacts, _ = load_file(directory, "contacts.yaml", ContactsFile, [])
    if contacts is None:
        return
    known = {c.id for c in contacts.contacts}
    for i, ref in enumerate(rules.recommenders):
        if ref not in known:
            found.append(Problem(FILE, parsed.line_of("recommenders", i),
                                 f"連絡先「{ref}」が contacts.yaml にありません。contacts.yaml の id を書いてください。"))
    if rules.secretariat not in known:
        found.append(Problem(FILE, parsed.line_of("secretariat"),
                             f"連絡先「{rules.secretariat}」が contacts.yaml にありません。contacts.yaml の id を書いてください。"))
