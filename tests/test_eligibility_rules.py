"""The 経営発達補助金 rules from subsidy.yaml: location, size by industry, issue, cost, recommendation, window, amount."""
from datetime import date
from typing import Any

import pytest

from handlers.eligibility import rules
from handlers.verdict import Verdict, call_status, format_yen, judge, subsidy_amount
from knowledge.model import Knowledge
from knowledge.subsidy import SubsidyFile

OPEN_DAY = date(2017, 9, 1)


@pytest.fixture(scope="module")
def subsidy(kb: Knowledge) -> SubsidyFile:
    return rules(kb)


def answer(text: str = "", value: str | None = None, low: int | None = None, high: int | None = None) -> dict[str, Any]:
    return {"value": value, "min": low, "max": high, "text": text}


def exactly(n: int) -> dict[str, Any]:
    return answer(str(n), None, n, n)


def answers(**changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    base = {
        "location": answer("いわき市平", "inside"),
        "industry": answer("製造業", "manufacturing"),
        "capital": exactly(10_000_000),
        "employees": exactly(10),
        "issue": answer("販路開拓・拡大", "sales"),
        "cost": exactly(900_000),
        "recommendation": answer("はい", "yes"),
    }
    base.update(changes)
    return base


def verdict_of(kb: Knowledge, subsidy: SubsidyFile, today: date = OPEN_DAY, **changes: dict[str, Any]) -> Verdict:
    return judge(subsidy, answers(**changes), today, kb.contacts)


def mark(verdict: Verdict, criterion: str) -> str:
    return next(c.mark for c in verdict.criteria if c.id == criterion)


def reason(verdict: Verdict, criterion: str) -> str:
    return next(c.reason for c in verdict.criteria if c.id == criterion)


# Location -----------------------------------------------------------------------------------------


def test_a_business_in_iwaki_meets_the_location_rule(kb, subsidy):
    v = verdict_of(kb, subsidy)
    assert mark(v, "location") == "ok" and "いわき市平" in reason(v, "location")
    assert v.headline == subsidy.verdict.eligible


def test_a_business_outside_iwaki_is_not_eligible(kb, subsidy):
    v = verdict_of(kb, subsidy, location=answer("郡山市", "outside"))
    assert mark(v, "location") == "ng" and "郡山市" in reason(v, "location")
    assert v.headline == subsidy.verdict.not_eligible


# Size by industry (中小企業基本法): capital OR employees; 小規模 by employees only ---------------------

THRESHOLDS = [
    # industry, capital max, employees max, small-business employees max
    ("manufacturing", 300_000_000, 300, 20),
    ("wholesale", 100_000_000, 100, 5),
    ("retail", 50_000_000, 50, 5),
    ("service", 50_000_000, 100, 5),
]


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_thresholds_in_the_yaml_are_those_of_the_sme_basic_act(subsidy, industry, capital_max, employees_max, small_max):
    i = subsidy.industry(industry)
    assert (i.capital_max_yen, i.employees_max, i.small_employees_max) == (capital_max, employees_max, small_max)


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_at_the_small_business_head_count_it_is_a_small_business(kb, subsidy, industry, capital_max, employees_max,
                                                                 small_max):
    v = verdict_of(kb, subsidy, industry=answer("", industry), employees=exactly(small_max),
                   capital=exactly(capital_max * 2))
    assert mark(v, "size") == "ok" and "小規模企業" in reason(v, "size")


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_one_over_the_small_business_head_count_it_is_an_sme(kb, subsidy, industry, capital_max, employees_max,
                                                            small_max):
    v = verdict_of(kb, subsidy, industry=answer("", industry), employees=exactly(small_max + 1),
                   capital=exactly(capital_max * 2))
    assert mark(v, "size") == "ok" and "中小企業" in reason(v, "size") and "小規模" not in reason(v, "size")


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_at_the_employee_threshold_it_is_an_sme_whatever_the_capital(kb, subsidy, industry, capital_max, employees_max,
                                                                    small_max):
    v = verdict_of(kb, subsidy, industry=answer("", industry), employees=exactly(employees_max),
                   capital=exactly(capital_max + 1))
    assert mark(v, "size") == "ok" and f"従業員{employees_max}人以下" in reason(v, "size")


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_over_the_head_count_but_at_the_capital_threshold_it_is_an_sme(kb, subsidy, industry, capital_max,
                                                                      employees_max, small_max):
    v = verdict_of(kb, subsidy, industry=answer("", industry), employees=exactly(employees_max + 1),
                   capital=exactly(capital_max))
    assert mark(v, "size") == "ok" and f"資本金{format_yen(capital_max)}以下" in reason(v, "size")


@pytest.mark.parametrize("industry,capital_max,employees_max,small_max", THRESHOLDS)
def test_over_both_thresholds_it_is_too_large(kb, subsidy, industry, capital_max, employees_max, small_max):
    v = verdict_of(kb, subsidy, industry=answer("", industry), employees=exactly(employees_max + 1),
                   capital=exactly(capital_max + 1))
    assert mark(v, "size") == "ng" and "超えています" in reason(v, "size")
    assert v.headline == subsidy.verdict.not_eligible


def test_retail_and_service_differ_at_80_employees(kb, subsidy):
    big_capital = exactly(60_000_000)
    retail = verdict_of(kb, subsidy, industry=answer("", "retail"), employees=exactly(80), capital=big_capital)
    service = verdict_of(kb, subsidy, industry=answer("", "service"), employees=exactly(80), capital=big_capital)
    assert mark(retail, "size") == "ng" and mark(service, "size") == "ok"


def test_a_range_choice_is_judged_by_its_bounds(kb, subsidy):
    six_to_twenty = answer("6～20人", None, 6, 20)
    assert "小規模企業" in reason(verdict_of(kb, subsidy, employees=six_to_twenty), "size")  # manufacturing: ≤ 20
    retail = verdict_of(kb, subsidy, industry=answer("", "retail"), employees=six_to_twenty)
    assert mark(retail, "size") == "ok" and "小規模" not in reason(retail, "size")
    over = verdict_of(kb, subsidy, employees=answer("301人以上", None, 301, None), capital=answer("3億円超", None, 300_000_001))
    assert mark(over, "size") == "ng"


def test_an_unknown_capital_with_many_employees_needs_checking(kb, subsidy):
    v = verdict_of(kb, subsidy, industry=answer("", "retail"), employees=exactly(60), capital=answer("わからない", "unknown"))
    assert mark(v, "size") == "check" and v.headline == subsidy.verdict.needs_check


def test_a_sole_proprietor_is_judged_by_head_count_only(kb, subsidy):
    individual = answer("個人事業主", "individual")
    assert "小規模企業" in reason(verdict_of(kb, subsidy, capital=individual, employees=exactly(3)), "size")
    assert mark(verdict_of(kb, subsidy, capital=individual, employees=exactly(301)), "size") == "ng"


# Issue --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("issue,name", [("advancement", "経営の高度化"), ("labour", "人手不足の解消"),
                                        ("sales", "販路開拓・拡大"), ("succession", "事業承継")])
def test_each_common_issue_meets_the_issue_rule(kb, subsidy, issue, name):
    v = verdict_of(kb, subsidy, issue=answer(name, issue))
    assert mark(v, "issue") == "ok" and name in reason(v, "issue")


def test_an_undertaking_outside_the_four_issues_needs_checking(kb, subsidy):
    v = verdict_of(kb, subsidy, issue=answer("その他", "other"))
    assert mark(v, "issue") == "check" and "経営の高度化" in reason(v, "issue")


def test_every_issue_comes_with_the_flyers_examples(subsidy):
    examples = {i.id: i.examples for i in subsidy.issues}
    assert "商圏測定システム" in examples["advancement"] and "バックオフィス" in examples["labour"]
    assert "ブランディング" in examples["sales"] and "新市場開拓" in examples["succession"]


# Recommendation -----------------------------------------------------------------------------------


def test_with_a_recommendation_the_rule_is_met(kb, subsidy):
    assert mark(verdict_of(kb, subsidy), "recommendation") == "ok"


@pytest.mark.parametrize("value", ["not_yet", "no", "unknown"])
def test_without_a_recommendation_the_user_is_told_whom_to_ask(kb, subsidy, value):
    v = verdict_of(kb, subsidy, recommendation=answer("まだ", value))
    assert mark(v, "recommendation") == "check" and v.headline == subsidy.verdict.needs_check
    assert "0246-25-9152" in reason(v, "recommendation") and "0246-32-2900" in reason(v, "recommendation")


# Window -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("today,status", [
    (date(2017, 8, 20), "upcoming"), (date(2017, 8, 21), "open"), (date(2017, 9, 29), "open"),
    (date(2017, 9, 30), "closed"), (date(2026, 11, 27), "closed"),
])
def test_the_call_window_is_judged_by_the_day(subsidy, today, status):
    assert call_status(subsidy, today)[0] == status


def test_an_open_window_is_a_tick_and_says_when_it_closes(kb, subsidy):
    v = verdict_of(kb, subsidy, today=date(2017, 9, 1))
    assert mark(v, "window") == "ok" and "9月29日" in reason(v, "window") and v.window_note is None


def test_a_closed_window_says_so_and_points_to_the_secretariat(kb, subsidy):
    v = verdict_of(kb, subsidy, today=date(2017, 10, 2))
    assert mark(v, "window") == "ng" and "終了" in reason(v, "window") and "事務局" in reason(v, "window")
    assert v.window_note is not None and "次回の公募" in v.window_note
    assert v.headline == subsidy.verdict.eligible  # the business itself still qualifies


def test_before_the_window_opens_it_needs_checking(kb, subsidy):
    v = verdict_of(kb, subsidy, today=date(2017, 8, 1))
    assert mark(v, "window") == "check" and "8月21日" in reason(v, "window")


# Amount -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cost,amount", [(900_000, 500_000), (300_000, 200_000), (600_000, 400_000),
                                         (750_000, 500_000), (100_000, 66_666), (1, 0), (749_999, 499_999)])
def test_the_subsidy_is_two_thirds_rounded_down_and_capped(subsidy, cost, amount):
    assert subsidy_amount(subsidy, cost)[0] == amount


def test_the_estimate_shows_the_cap_when_it_applies(kb, subsidy):
    capped = verdict_of(kb, subsidy, cost=exactly(900_000))
    assert capped.amount == 500_000 and "50万円" in capped.estimate and "上限" in capped.estimate
    plain = verdict_of(kb, subsidy, cost=exactly(300_000))
    assert plain.amount == 200_000 and "20万円" in plain.estimate


def test_an_undecided_cost_gives_the_rate_and_cap_instead_of_an_amount(kb, subsidy):
    v = verdict_of(kb, subsidy, cost=answer("未定", "undecided"))
    assert v.amount is None and mark(v, "cost") == "check" and "3分の2" in v.estimate and "50万円" in v.estimate


@pytest.mark.parametrize("yen,text", [(500_000, "50万円"), (66_666, "66,666円"), (300_000_000, "3億円"),
                                      (150_000_000, "1億5,000万円"), (50_000_000, "5,000万円"), (0, "0円")])
def test_amounts_are_written_as_people_read_them(yen, text):
    assert format_yen(yen) == text
