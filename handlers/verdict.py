"""Judge the eligibility questionnaire's answers against subsidy.yaml: each criterion's result and the estimated subsidy."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Mapping

from knowledge.schema import Contact
from knowledge.subsidy import Call, Industry, SubsidyFile

Mark = Literal["ok", "ng", "check"]
WindowStatus = Literal["open", "upcoming", "closed"]
# The criteria that decide eligibility; the call window is reported but judged on its own.
ELIGIBILITY = ("location", "size", "issue", "cost", "recommendation")


@dataclass(frozen=True)
class Criterion:
    """One line of the verdict: a criterion, its result and the reason in one line."""

    id: str
    name: str
    mark: Mark
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The whole result: per-criterion lines, the headline and the estimated amount."""

    criteria: tuple[Criterion, ...]
    kind: Literal["eligible", "needs_check", "not_eligible"]
    headline: str
    estimate: str
    amount: int | None  # yen; None when the planned cost is not known
    window_note: str | None  # said when the call is closed


def format_yen(yen: int) -> str:
    """Write an amount as people read it: 500000 → 50万円, 150000000 → 1億5,000万円, 66666 → 66,666円."""
    oku, rest = divmod(yen, 10**8)
    man, en = divmod(rest, 10**4)
    if en or (not oku and not man):
        return f"{yen:,}円"
    return (f"{oku:,}億" if oku else "") + (f"{man:,}万" if man else "") + "円"


def subsidy_amount(rules: SubsidyFile, cost_yen: int) -> tuple[int, int]:
    """Return (the subsidy, the cost × rate before the cap), both rounded down to the yen."""
    raw = cost_yen * rules.rate.numerator // rules.rate.denominator
    return min(raw, rules.cap_yen), raw


def call_status(rules: SubsidyFile, today: date) -> tuple[WindowStatus, Call]:
    """Return whether a call is open today, the next one is to come, or the last one has closed."""
    for call in rules.calls:
        if call.opens <= today <= call.closes:
            return "open", call
    upcoming = sorted((c for c in rules.calls if c.opens > today), key=lambda c: c.opens)
    if upcoming:
        return "upcoming", upcoming[0]
    return "closed", max(rules.calls, key=lambda c: c.closes)


def contact_list(rules: SubsidyFile, ids: list[str], contacts: Mapping[str, Contact]) -> str:
    """Write contacts as one phrase: "いわき商工会議所（☎0246-25-9152）またはいわき地区…（☎0246-32-2900）"."""
    wording = rules.verdict
    parts = [wording.contact.format(name=c.name, phone=c.phone) if c.phone else c.name
             for c in (contacts[i] for i in ids if i in contacts)]
    return wording.contact_joiner.join(parts)


def judge(rules: SubsidyFile, answers: Mapping[str, Mapping[str, Any]], today: date,
          contacts: Mapping[str, Contact]) -> Verdict:
    """Judge every criterion, the window and the amount from the answers."""
    w = rules.verdict
    criteria = (
        _location(rules, answers["location"]),
        _size(rules, answers["industry"], answers["capital"], answers["employees"]),
        _issue(rules, answers["issue"]),
        _cost(rules, answers["cost"]),
        _recommendation(rules, answers["recommendation"], contacts),
        _window(rules, today),
    )
    marks = {c.mark for c in criteria if c.id in ELIGIBILITY}
    kind: Literal["eligible", "needs_check", "not_eligible"] = (
        "not_eligible" if "ng" in marks else "needs_check" if "check" in marks else "eligible")
    headline = getattr(w, kind)
    status, call = call_status(rules, today)
    window_note = w.window_closed.format(program=rules.short_name, window=call.label) if status == "closed" else None
    cost = answers["cost"]
    rate, cap = str(rules.rate), format_yen(rules.cap_yen)
    if cost.get("min") is None:
        return Verdict(criteria, kind, headline, w.estimate_unknown.format(rate=rate, cap=cap), None, window_note)
    amount, raw = subsidy_amount(rules, int(cost["min"]))
    template = w.estimate_capped if raw > rules.cap_yen else w.estimate
    estimate = template.format(amount=format_yen(amount), cost=format_yen(int(cost["min"])), rate=rate, cap=cap,
                               raw=format_yen(raw))
    return Verdict(criteria, kind, headline, estimate, amount, window_note)


def _criterion(rules: SubsidyFile, id: str, mark: Mark, reason: str) -> Criterion:
    return Criterion(id, getattr(rules.verdict.criteria, id).name, mark, reason)


def _location(rules: SubsidyFile, answer: Mapping[str, Any]) -> Criterion:
    wording = rules.verdict.criteria.location
    if answer.get("value") == "inside":
        return _criterion(rules, "location", "ok", wording.ok.format(answer=answer["text"]))
    return _criterion(rules, "location", "ng", wording.ng.format(answer=answer["text"]))


def _at_most(answer: Mapping[str, Any], threshold: int) -> bool | None:
    """Tell whether an answered range is at most the threshold (None: the answer does not say)."""
    low, high = answer.get("min"), answer.get("max")
    if high is not None and high <= threshold:
        return True
    if low is not None and low > threshold:
        return False
    return None


def _size(rules: SubsidyFile, industry_answer: Mapping[str, Any], capital: Mapping[str, Any],
          employees: Mapping[str, Any]) -> Criterion:
    industry: Industry = rules.industry(str(industry_answer["value"]))
    wording = rules.verdict.criteria.size
    values = dict(industry=industry.name, small_max=industry.small_employees_max,
                  employees_max=industry.employees_max, capital_max=format_yen(industry.capital_max_yen))
    if _at_most(employees, industry.small_employees_max):
        return _criterion(rules, "size", "ok", wording.small.format(**values))
    by_employees = _at_most(employees, industry.employees_max)
    if by_employees:
        return _criterion(rules, "size", "ok", wording.medium_by_employees.format(**values))
    # A sole proprietor has no capital: only the head count decides (中小企業基本法 第2条).
    by_capital = False if capital.get("value") == "individual" else _at_most(capital, industry.capital_max_yen)
    if by_capital:
        return _criterion(rules, "size", "ok", wording.medium_by_capital.format(**values))
    if by_capital is False and by_employees is False:
        return _criterion(rules, "size", "ng", wording.large.format(**values))
    return _criterion(rules, "size", "check", wording.check.format(**values))


def _issue(rules: SubsidyFile, answer: Mapping[str, Any]) -> Criterion:
    wording = rules.verdict.criteria.issue
    issue = rules.issue(str(answer.get("value")))
    if issue is not None:
        return _criterion(rules, "issue", "ok", wording.ok.format(issue=issue.name))
    return _criterion(rules, "issue", "check", wording.check.format(issues="、".join(i.name for i in rules.issues)))


def _cost(rules: SubsidyFile, answer: Mapping[str, Any]) -> Criterion:
    wording = rules.verdict.criteria.cost
    if answer.get("min") is None:
        return _criterion(rules, "cost", "check", wording.check)
    return _criterion(rules, "cost", "ok", wording.ok.format(cost=format_yen(int(answer["min"]))))


def _recommendation(rules: SubsidyFile, answer: Mapping[str, Any], contacts: Mapping[str, Contact]) -> Criterion:
    wording = rules.verdict.criteria.recommendation
    if answer.get("value") == "yes":
        return _criterion(rules, "recommendation", "ok", wording.ok)
    # Not having it yet does not rule anyone out: the recommendation is asked for at a 商工団体.
    recommenders = contact_list(rules, rules.recommenders, contacts)
    return _criterion(rules, "recommendation", "check", wording.check.format(recommenders=recommenders))


def _window(rules: SubsidyFile, today: date) -> Criterion:
    wording = rules.verdict.criteria.window
    status, call = call_status(rules, today)
    values = dict(opens=_month_day(call.opens), closes=_month_day(call.closes), window=call.label)
    mark: Mark = {"open": "ok", "upcoming": "check", "closed": "ng"}[status]  # type: ignore[assignment]
    return _criterion(rules, "window", mark, getattr(wording, status).format(**values))


def _month_day(d: date) -> str:
    return f"{d.month}月{d.day}日"
