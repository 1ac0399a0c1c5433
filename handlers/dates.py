"""Japanese date phrases (今日, 来月, 11月, 年度末, 平成29年, H30.1 …) as date ranges, judged against the turn's time in Asia/Tokyo."""
from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS = "月火水木金土日"

# Kanji numerals as people write them in dates (十一月, 三日); larger numbers do not occur.
_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_NUMBER = re.compile(r"([一二三四五六七八九十〇]{1,3})(?=月|日|年)")

# Eras in use for the years people ask about; 元年 is year 1.
_ERAS = {"平成": 1988, "令和": 2018, "h": 1988, "r": 2018}
_YEAR = re.compile(
    r"(?:(?P<era>平成|令和)(?P<era_year>\d{1,2}|元)年?|(?<![a-z0-9])(?P<era_abbr>[hr])\.?(?P<abbr_year>\d{1,2}|元)(?![0-9a-z])年?"
    r"|(?<!\d)(?P<western>(?:19|20)\d{2})(?=年|[/.\-]\d{1,2}(?!\d))年?)(?P<fiscal>年度|度)?"
)
_PART = r"(?P<part>上旬|初旬|初め|はじめ|頭|中旬|下旬|末)?"
# What may follow a year: "11月", "11月17日", ".11", "/11/17", "の3月下旬".
_AFTER_YEAR = re.compile(
    r"^\s*の?\s*[/.\-]?\s*(?P<month>\d{1,2})(?:月の?" + _PART + r"|(?=[/.\-])|(?!\d))"
    r"(?:[/.\-](?P<d1>\d{1,2})(?!\d)|(?P<d2>\d{1,2})日)?"
)
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})月(\d{1,2})日")
_SLASH_DAY = re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})(?![\d/])")
_MONTH = re.compile(r"(?<![\d/.])(?P<month>\d{1,2})月の?" + _PART)
_DAY = re.compile(r"(?<![\d月/])(\d{1,2})日(?!間)")

# Relative phrases as (phrase, unit, offset, label); longer phrases first so 再来月 is not read as 来月.
_RELATIVE: list[tuple[str, str, int, str]] = [
    ("再来週", "week", 2, "再来週"), ("さらいしゅう", "week", 2, "再来週"), ("再来月", "month", 2, "再来月"),
    ("さらいげつ", "month", 2, "再来月"), ("明後日", "day", 2, "明後日"), ("あさって", "day", 2, "明後日"),
    ("今日", "day", 0, "本日"), ("本日", "day", 0, "本日"), ("きょう", "day", 0, "本日"),
    ("明日", "day", 1, "明日"), ("あした", "day", 1, "明日"), ("あす", "day", 1, "明日"),
    ("昨日", "day", -1, "昨日"), ("きのう", "day", -1, "昨日"),
    ("今週末", "weekend", 0, "今週末"), ("週末", "weekend", 0, "週末"), ("土日", "weekend", 0, "土日"),
    ("今週", "week", 0, "今週"), ("こんしゅう", "week", 0, "今週"), ("来週", "week", 1, "来週"),
    ("らいしゅう", "week", 1, "来週"), ("先週", "week", -1, "先週"), ("せんしゅう", "week", -1, "先週"),
    ("今月末", "month-end", 0, "今月末"), ("月末", "month-end", 0, "月末"), ("今月", "month", 0, "今月"),
    ("こんげつ", "month", 0, "今月"), ("来月", "month", 1, "来月"), ("らいげつ", "month", 1, "来月"),
    ("翌月", "month", 1, "翌月"), ("先月", "month", -1, "先月"), ("せんげつ", "month", -1, "先月"),
    ("年度末", "fiscal-end", 0, "年度末"), ("ねんどまつ", "fiscal-end", 0, "年度末"),
    ("今年度", "fiscal", 0, "今年度"), ("本年度", "fiscal", 0, "今年度"), ("来年度", "fiscal", 1, "来年度"),
    ("昨年度", "fiscal", -1, "昨年度"), ("前年度", "fiscal", -1, "昨年度"), ("年内", "rest-of-year", 0, "年内"),
    ("今年", "year", 0, "今年"), ("ことし", "year", 0, "今年"), ("本年", "year", 0, "今年"),
    ("来年", "year", 1, "来年"), ("らいねん", "year", 1, "来年"), ("去年", "year", -1, "昨年"), ("昨年", "year", -1, "昨年"),
]
# A phrase in kana counts only where a kana word begins, as the kana months do: べんきょう is no きょう.
_KANA_RELATIVE = {phrase: re.compile(f"(?:(?<![ぁ-ゖ])|(?<=の)){phrase}")
                  for phrase, _, _, _ in _RELATIVE if re.fullmatch("[ぁ-ゖ]+", phrase)}
# Months written in kana (くがつ, 9がつ) are read as 9月.
_KANA_MONTHS = {"じゅういちがつ": 11, "じゅうにがつ": 12, "じゅうがつ": 10, "いちがつ": 1, "にがつ": 2, "さんがつ": 3,
                "しがつ": 4, "ごがつ": 5, "ろくがつ": 6, "しちがつ": 7, "はちがつ": 8, "くがつ": 9}
# Not inside a longer kana word (わたしがつくった is no April): after a non-kana or after の.
_KANA_MONTH = re.compile("(?:(?<![ぁ-ゖ])|(?<=の))(?:" + "|".join(sorted(_KANA_MONTHS, key=len, reverse=True)) + ")")
_DIGIT_GATSU = re.compile(r"(\d{1,2})がつ")
# Open-ended "from now on" phrases: the next occurrences, whenever they are.
_OPEN = ["次いつ", "次はいつ", "次は？", "次は?", "つぎいつ", "次回", "今度", "こんど", "近々", "ちかぢか", "近いうち", "ちかいうち", "近日",
         "もうすぐ", "直近", "これから", "今後", "こんご", "この先", "このさき", "次の", "今から",
         "次なに", "次何", "次なん", "つぎなに"]


@dataclass(frozen=True)
class Period:
    """A range of days a question is about; `end` None means open-ended ("これから")."""

    start: date
    end: date | None
    label: str  # how a reply names it, e.g. "来月（2017年11月）"; "" for an open-ended period

    @property
    def is_open(self) -> bool:
        """Tell whether the period has no end ("次いつ", "これから")."""
        return self.end is None

    @property
    def days(self) -> int | None:
        """Return the length in days, or None when open-ended."""
        return None if self.end is None else (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        """Tell whether a day falls in the period."""
        return self.start <= day and (self.end is None or day <= self.end)


def today_in_tokyo(now: datetime) -> date:
    """Return the calendar day of a moment in Asia/Tokyo (a naive time is taken as Tokyo already)."""
    return (now.astimezone(TOKYO) if now.tzinfo else now).date()


def short_date(day: date) -> str:
    """Format a day as 9/28(木)."""
    return f"{day.month}/{day.day}({WEEKDAYS[day.weekday()]})"


def long_date(day: date) -> str:
    """Format a day as 2017年9月28日(木)."""
    return f"{day.year}年{day.month}月{day.day}日({WEEKDAYS[day.weekday()]})"


def month_span(start: date, end: date) -> str:
    """Format whole months as 2017年11月, 2017年10月～11月 or 2017年9月～2018年1月."""
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.year}年{start.month}月"
    if start.year == end.year:
        return f"{start.year}年{start.month}月～{end.month}月"
    return f"{start.year}年{start.month}月～{end.year}年{end.month}月"


def fiscal_year_label(fiscal_year: int) -> str:
    """Name a Japanese fiscal year (April to March) by its era: 平成29年度, 令和元年度."""
    era, base = ("令和", 2018) if fiscal_year >= 2019 else ("平成", 1988)
    n = fiscal_year - base
    return f"{era}{'元' if n == 1 else n}年度"


def normalise(text: str) -> str:
    """Fold width and case, and write kanji numerals before 年/月/日 as digits."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _KANJI_NUMBER.sub(lambda m: str(_kanji_to_int(m.group(1))), text)
    text = _KANA_MONTH.sub(lambda m: f"{_KANA_MONTHS[m.group(0)]}月", text)
    return _DIGIT_GATSU.sub(r"\1月", text)


def find_period(text: str, now: datetime) -> Period | None:
    """Return the range of days a question names, or None when it names no time at all."""
    today = today_in_tokyo(now)
    t = normalise(text)
    explicit = _explicit(t, today)
    if explicit is not None:
        return explicit
    for phrase, unit, offset, label in _RELATIVE:
        if phrase in t and (phrase not in _KANA_RELATIVE or _KANA_RELATIVE[phrase].search(t)):
            return _relative(unit, offset, label, today)
    if any(p in t for p in _OPEN):
        return Period(today, None, "")
    return None


def _explicit(t: str, today: date) -> Period | None:
    """Read a written year, month or day ("平成29年度", "H30.1月", "11月下旬", "9/28", "25日")."""
    year_match = _YEAR.search(t)
    if year_match:
        year, fiscal = _year_of(year_match), bool(year_match.group("fiscal"))
        after = _AFTER_YEAR.match(t[year_match.end():])
        if after and 1 <= int(after.group("month")) <= 12:
            month = int(after.group("month"))
            y = year + (1 if fiscal and month <= 3 else 0)
            day_text = after.group("d1") or after.group("d2")
            day = _safe_date(y, month, int(day_text)) if day_text else None
            return Period(day, day, long_date(day)) if day else _month_period(y, month, after.group("part") or "")
        if fiscal:
            return _fiscal_period(year, fiscal_year_label(year))
        return Period(date(year, 1, 1), date(year, 12, 31), f"{year}年")
    day_match = _MONTH_DAY.search(t) or _SLASH_DAY.search(t)
    if day_match:
        day = _next_day(today, int(day_match.group(1)), int(day_match.group(2)))
        if day:
            return Period(day, day, long_date(day))
    month_match = _MONTH.search(t)
    if month_match and 1 <= int(month_match.group("month")) <= 12:
        month = int(month_match.group("month"))
        if "来年度" in t:
            y = _fiscal_year(today) + 1 + (1 if month <= 3 else 0)
        elif "年度" in t:
            y = _fiscal_year(today) + (1 if month <= 3 else 0)
        elif "来年" in t or "らいねん" in t:
            y = today.year + 1
        elif "今年" in t or "ことし" in t:
            y = today.year
        else:  # a month without a year: the next such month, this one included
            y = today.year if month >= today.month else today.year + 1
        return _month_period(y, month, month_match.group("part") or "")
    single_day = _DAY.search(t)
    if single_day:
        day = _next_day_of_month(today, int(single_day.group(1)))
        if day:
            return Period(day, day, long_date(day))
    return None


def _relative(unit: str, offset: int, phrase: str, today: date) -> Period:
    if unit == "day":
        day = today + timedelta(days=offset)
        return Period(day, day, f"{phrase}（{long_date(day)}）")
    if unit in ("week", "weekend"):
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        start, end = (monday + timedelta(days=5), monday + timedelta(days=6)) if unit == "weekend" else (monday, monday + timedelta(days=6))
        if start < today <= end:  # this week's days gone by are named by no answer: "今週（10/1(日)まで）"
            return Period(today, end, f"{phrase}（{short_date(end)}まで）")
        return Period(start, end, f"{phrase}（{short_date(start)}～{short_date(end)}）")
    if unit == "month":
        y, m = _add_months(today.year, today.month, offset)
        return Period(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), f"{phrase}（{y}年{m}月）")
    if unit == "month-end":
        period = _month_period(today.year, today.month, "下旬")
        return Period(period.start, period.end, f"{phrase}（{period.label}）")
    if unit == "fiscal-end":
        fy = _fiscal_year(today)
        return Period(date(fy + 1, 3, 1), date(fy + 1, 3, 31), f"{phrase}（{fy + 1}年3月）")
    if unit == "fiscal":
        fy = _fiscal_year(today) + offset
        return _fiscal_period(fy, f"{phrase}・{fiscal_year_label(fy)}")
    if unit == "rest-of-year":
        return Period(today, date(today.year, 12, 31), f"{phrase}（{today.year}年12月まで）")
    y = today.year + offset
    return Period(date(y, 1, 1), date(y, 12, 31), f"{phrase}（{y}年）")


def _year_of(match: re.Match[str]) -> int:
    if match.group("western"):
        return int(match.group("western"))
    era = match.group("era") or match.group("era_abbr")
    number = match.group("era_year") or match.group("abbr_year")
    return _ERAS[era] + (1 if number == "元" else int(number))


def _fiscal_year(today: date) -> int:
    return today.year if today.month >= 4 else today.year - 1


def _fiscal_period(fiscal_year: int, label: str) -> Period:
    return Period(date(fiscal_year, 4, 1), date(fiscal_year + 1, 3, 31),
                  f"{label}（{fiscal_year}年4月～{fiscal_year + 1}年3月）")


def _month_period(year: int, month: int, part: str) -> Period:
    last = calendar.monthrange(year, month)[1]
    start, end, suffix = date(year, month, 1), date(year, month, last), ""
    if part in ("上旬", "初旬", "初め", "はじめ", "頭"):
        end, suffix = date(year, month, 10), "上旬"
    elif part == "中旬":
        start, end, suffix = date(year, month, 11), date(year, month, 20), "中旬"
    elif part in ("下旬", "末"):
        start, suffix = date(year, month, 21), "下旬"
    return Period(start, end, f"{year}年{month}月{suffix}")


def _add_months(year: int, month: int, offset: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + offset
    return index // 12, index % 12 + 1


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_day(today: date, month: int, day: int) -> date | None:
    """Return the next such day from today (today included), this year or the next."""
    for year in (today.year, today.year + 1):
        candidate = _safe_date(year, month, day)
        if candidate and candidate >= today:
            return candidate
    return None


def _next_day_of_month(today: date, day: int) -> date | None:
    """Return the next day with this number from today (this month or the next)."""
    for offset in (0, 1, 2):
        y, m = _add_months(today.year, today.month, offset)
        candidate = _safe_date(y, m, day)
        if candidate and candidate >= today:
            return candidate
    return None


def _kanji_to_int(text: str) -> int:
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0) if ones else 0)
    value = 0
    for ch in text:
        value = value * 10 + _KANJI_DIGITS[ch]
    return value
