"""Japanese date phrases become the right days, judged against the turn's time in Asia/Tokyo."""
from datetime import date, datetime, timezone

import pytest

from conftest import at
from handlers.dates import find_period, fiscal_year_label, long_date, month_span, short_date, today_in_tokyo

NOW = "2017-10-15T09:00:00"  # a Sunday, in the middle of fiscal 2017


@pytest.mark.parametrize("text, start, end", [
    ("今日のセミナー", date(2017, 10, 15), date(2017, 10, 15)),
    ("本日開催のもの", date(2017, 10, 15), date(2017, 10, 15)),
    ("明日のセミナー", date(2017, 10, 16), date(2017, 10, 16)),
    ("あさっての相談会", date(2017, 10, 17), date(2017, 10, 17)),
    ("今週のセミナー", date(2017, 10, 15), date(2017, 10, 15)),  # from today: Sunday, the week's last day
    ("来週のセミナー", date(2017, 10, 16), date(2017, 10, 22)),
    ("再来週の講座", date(2017, 10, 23), date(2017, 10, 29)),
    ("今月のセミナー", date(2017, 10, 1), date(2017, 10, 31)),
    ("こんげつのせみなー", date(2017, 10, 1), date(2017, 10, 31)),
    ("来月のセミナーは？", date(2017, 11, 1), date(2017, 11, 30)),
    ("らいげつ", date(2017, 11, 1), date(2017, 11, 30)),
    ("再来月", date(2017, 12, 1), date(2017, 12, 31)),
    ("11月のセミナー", date(2017, 11, 1), date(2017, 11, 30)),
    ("１１月のセミナー", date(2017, 11, 1), date(2017, 11, 30)),
    ("十一月のセミナー", date(2017, 11, 1), date(2017, 11, 30)),
    ("じゅういちがつのせみなー", date(2017, 11, 1), date(2017, 11, 30)),
    ("11がつ", date(2017, 11, 1), date(2017, 11, 30)),
    ("こんどのくがつ", date(2018, 9, 1), date(2018, 9, 30)),
    ("10月のセミナー", date(2017, 10, 1), date(2017, 10, 31)),  # the current month counts
    ("5月のセミナー", date(2018, 5, 1), date(2018, 5, 31)),  # May is past this year: next May
    ("11月下旬", date(2017, 11, 21), date(2017, 11, 30)),
    ("12月上旬の講座", date(2017, 12, 1), date(2017, 12, 10)),
    ("年度末のセミナー", date(2018, 3, 1), date(2018, 3, 31)),
    ("今年度のセミナー", date(2017, 4, 1), date(2018, 3, 31)),
    ("来年度", date(2018, 4, 1), date(2019, 3, 31)),
    ("年内にあるセミナー", date(2017, 10, 15), date(2017, 12, 31)),
    ("来年の3月", date(2018, 3, 1), date(2018, 3, 31)),
    ("平成29年度のセミナー", date(2017, 4, 1), date(2018, 3, 31)),
    ("平成29年度の2月", date(2018, 2, 1), date(2018, 2, 28)),
    ("H29", date(2017, 1, 1), date(2017, 12, 31)),
    ("H30.1月の相談会", date(2018, 1, 1), date(2018, 1, 31)),
    ("h29.11", date(2017, 11, 1), date(2017, 11, 30)),
    ("平成30年2月", date(2018, 2, 1), date(2018, 2, 28)),
    ("平成元年", date(1989, 1, 1), date(1989, 12, 31)),
    ("令和8年のセミナー", date(2026, 1, 1), date(2026, 12, 31)),
    ("令和元年度", date(2019, 4, 1), date(2020, 3, 31)),
    ("R8.5月", date(2026, 5, 1), date(2026, 5, 31)),
    ("2017年11月のセミナー", date(2017, 11, 1), date(2017, 11, 30)),
    ("2018/3/17", date(2018, 3, 17), date(2018, 3, 17)),
    ("2017年11月17日", date(2017, 11, 17), date(2017, 11, 17)),
    ("11月17日の相談会", date(2017, 11, 17), date(2017, 11, 17)),
    ("11/17の相談会", date(2017, 11, 17), date(2017, 11, 17)),
    ("9/28のセミナー", date(2018, 9, 28), date(2018, 9, 28)),  # a day without a year: the next one
    ("25日のセミナー", date(2017, 10, 25), date(2017, 10, 25)),
])
def test_a_date_phrase_names_these_days(text, start, end):
    period = find_period(text, at(NOW))
    assert period is not None and (period.start, period.end) == (start, end), period


@pytest.mark.parametrize("text", ["次いつ？", "知財の相談会は次はいつ", "今度のセミナー", "近々のセミナーは？", "これからのセミナー",
                                  "直近の講座", "今後の予定", "ちかいうちの せみなー", "もうすぐある講座", "次なにかイベントある？"])
def test_next_and_from_now_on_are_open_ended_from_today(text):
    period = find_period(text, at(NOW))
    assert period is not None and period.is_open and period.start == date(2017, 10, 15)


@pytest.mark.parametrize("text", ["IT関係のセミナーある？", "簿記を勉強したい", "3級簿記講座", "全4回", "月4回", "0246-25-9151",
                                  "2000円", "h2o", "24件", "6次化", "わたしがつくった商品", "ろぼっとの べんきょう",
                                  "しんきのうのせつめい", ""])  # no きょう in べんきょう, no きのう in しんきのう (新機能)
def test_text_without_a_time_names_no_period(text):
    assert find_period(text, at(NOW)) is None


def test_the_day_is_the_day_in_tokyo_whatever_zone_now_is_given_in():
    # 2017-10-31 16:00 UTC is already November 1st in Tokyo.
    now = datetime(2017, 10, 31, 16, 0, tzinfo=timezone.utc)
    assert today_in_tokyo(now) == date(2017, 11, 1)
    period = find_period("今月のセミナー", now)
    assert period is not None and period.start == date(2017, 11, 1)


def test_a_month_asked_in_that_month_is_this_year_and_in_december_january_is_next_year():
    assert find_period("12月", at("2017-12-31T23:00:00")).start == date(2017, 12, 1)
    assert find_period("1月", at("2017-12-31T23:00:00")).start == date(2018, 1, 1)
    assert find_period("来月", at("2017-12-31T23:00:00")).start == date(2018, 1, 1)


def test_labels_say_the_resolved_month_and_weekday():
    assert find_period("来月", at(NOW)).label == "来月（2017年11月）"
    assert find_period("明日", at(NOW)).label == "明日（2017年10月16日(月)）"
    assert find_period("こんげつ", at(NOW)).label == "今月（2017年10月）"  # named in kanji whatever was typed
    assert short_date(date(2017, 9, 28)) == "9/28(木)"
    assert long_date(date(2017, 9, 28)) == "2017年9月28日(木)"
    assert month_span(date(2017, 10, 1), date(2017, 11, 30)) == "2017年10月～11月"
    assert month_span(date(2017, 9, 1), date(2018, 1, 31)) == "2017年9月～2018年1月"
    assert fiscal_year_label(2017) == "平成29年度" and fiscal_year_label(2019) == "令和元年度"


def test_this_week_is_named_from_today_not_by_its_days_gone_by():
    # The days gone by would read as dates of the past proposed ("9/25" of a seminar held that Monday).
    period = find_period("今週あるセミナー", at("2017-09-26T09:00:00"))
    assert (period.start, period.end, period.label) == (date(2017, 9, 26), date(2017, 10, 1), "今週（10/1(日)まで）")
    assert find_period("来週", at("2017-09-26T09:00:00")).label == "来週（10/2(月)～10/8(日)）"


def test_an_impossible_date_is_read_as_its_month_or_not_at_all_rather_than_an_error():
    period = find_period("2月30日のセミナー", at(NOW))
    assert period is not None and (period.start, period.end) == (date(2018, 2, 1), date(2018, 2, 28))
    assert find_period("13月のセミナー", at(NOW)) is None
