"""Read typed answers: head counts, amounts of money, places and yes/no, as people write them in Japanese.

Numbers are read with Decimal rather than a library: kanjize (the best-kept kanji-number package on
PyPI) goes through float and reads "2.3億" as 229,999,999.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterable, Sequence

from knowledge.subsidy import Region
from knowledge.text import surface_key, word_keys

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "壱": 1, "二": 2, "弐": 2, "三": 3, "参": 3, "四": 4,
                 "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_LARGE_UNITS = {"万": 10**4, "萬": 10**4, "億": 10**8, "兆": 10**12}
_NUMBER = re.compile("[0-9.%s%s%s]+" % ("".join(_KANJI_DIGITS), "".join(_SMALL_UNITS), "".join(_LARGE_UNITS)))
_DIGIT_COMMA = re.compile(r"(?<=\d)[,、](?=\d{3})")
_SPACES = re.compile(r"\s+")
_RANGE_SIGNS = ("~", "〜", "-", "ー", "から", "乃至")
# Counts said in kana; "ひとりで" (on my own) is handled as "alone" before these.
_KANA_COUNTS = {"ひとり": 1, "ふたり": 2}
_PERSON = ("人", "名")
_VAGUE = "数"  # 数十人, 十数人: not a number anyone can judge by
# A place written with its suffix: 郡山市, 東京都, 大熊町. 区 is left out (東京都港区 is caught by 都).
_PLACE = re.compile(r"([\u4e00-\u9fff々ヶ]{1,6}?)(市|県|都|府|町|村)")


@dataclass(frozen=True)
class Count:
    """A head count, or a range of them (high None: "or more")."""

    low: int
    high: int | None

    @property
    def exact(self) -> int | None:
        """Return the count when it is one number."""
        return self.low if self.low == self.high else None


@dataclass(frozen=True)
class Place:
    """Where the user said the business is."""

    inside: bool
    name: str | None  # the district, city or word recognised


def normalize(text: str) -> str:
    """Fold widths (９０ → 90), drop spaces and thousands separators, so numbers read as one token."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub("", text)
    return _DIGIT_COMMA.sub("", text)


def parse_number(token: str) -> Decimal | None:
    """Read one number written in digits, kanji or both: 12, 十二, 1.2百万, 5千万, 1億2000万."""
    token = token.strip(".")
    if not token:
        return None
    total = Decimal(0)
    section = Decimal(0)  # the part below the current 万/億
    digits = ""
    for ch in token:
        if ch in "0123456789.":
            digits += ch
        elif ch in _KANJI_DIGITS:
            digits += str(_KANJI_DIGITS[ch])
        elif ch in _SMALL_UNITS:
            n = _decimal(digits) if digits else Decimal(1)
            if n is None:
                return None
            section += n * _SMALL_UNITS[ch]
            digits = ""
        else:  # a large unit
            n = _decimal(digits) if digits else Decimal(0)
            if n is None or (not digits and section == 0):
                return None  # "万" with no number before it
            total += (section + n) * _LARGE_UNITS[ch]
            section = Decimal(0)
            digits = ""
    rest = _decimal(digits) if digits else Decimal(0)
    if rest is None:
        return None
    return total + section + rest


def _decimal(digits: str) -> Decimal | None:
    if digits.count(".") > 1 or digits == ".":
        return None
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class _Token:
    """A number found in a normalised text, with the text around it."""

    value: Decimal
    raw: str
    text: str
    start: int
    end: int

    @property
    def before(self) -> str:
        return self.text[: self.start]

    @property
    def after(self) -> str:
        return self.text[self.end :]


def _tokens(text: str) -> list[_Token]:
    found = []
    for m in _NUMBER.finditer(text):
        value = parse_number(m.group())
        if value is not None:
            found.append(_Token(value, m.group(), text, m.start(), m.end()))
    return found


def _is_vague(token: _Token) -> bool:
    return token.before.endswith(_VAGUE) or token.after.startswith(_VAGUE)


def find_count(text: str, alone: Iterable[str] = (), nobody: Iterable[str] = ()) -> Count | None:
    """Read a head count: "5人", "五人", "従業員は12名", "十二人", "12", "10～20人", "301人以上"; None if unclear."""
    key = surface_key(text)
    if _contains_any(key, alone):
        return Count(0, 0)
    normal = normalize(text)
    tokens = _tokens(normal)
    if any(_is_vague(t) for t in tokens):
        return None
    people = [t for t in tokens if t.after.startswith(_PERSON)]
    ranged = _count_range(tokens)
    if ranged is not None:
        return ranged
    if people:
        return _count_of(people[0])
    if len(tokens) == 1 and not _has_unit_of_money(tokens[0]):
        return _count_of(tokens[0])
    for kana, n in _KANA_COUNTS.items():
        if kana in key:
            return Count(n, n)
    if not tokens and _contains_any(key, nobody):
        return Count(0, 0)
    return None


def _count_of(token: _Token) -> Count | None:
    if token.value != token.value.to_integral_value():
        return None
    n = int(token.value)
    after = token.after[1:] if token.after.startswith(_PERSON) else token.after
    if after.startswith(("以上", "超")):
        return Count(n + (1 if after.startswith("超") else 0), None)
    if after.startswith(("以下", "未満")):
        return Count(0, n - (1 if after.startswith("未満") else 0))
    return Count(n, n)


def _count_range(tokens: list[_Token]) -> Count | None:
    """Read "10～20人": two numbers joined by a range sign, the second followed by 人/名."""
    for first, second in zip(tokens, tokens[1:]):
        between = first.text[first.end : second.start]
        between = between[1:] if between.startswith(_PERSON) else between
        if between in _RANGE_SIGNS and second.after.startswith(_PERSON):
            low, high = _count_of(first), _count_of(second)
            if low is None or high is None or low.exact is None or high.exact is None or high.exact < low.exact:
                return None
            return Count(low.exact, high.exact)
    return None


def _has_unit_of_money(token: _Token) -> bool:
    return token.after.startswith("円") or any(u in token.raw for u in _LARGE_UNITS)


def find_yen(text: str) -> int | None:
    """Read an amount of money in yen: "90万円", "900,000円", "９０万", "百万円", "1.2百万円", "3億円"; None if unclear.

    A bare number is taken as yen only from 10,000 up: "90" alone may mean 90万円, so it is asked again.
    """
    tokens = [t for t in _tokens(normalize(text)) if not _is_vague(t)]
    for token in tokens:
        if _has_unit_of_money(token):
            return int(token.value)  # rounds down to the yen
    bare = [t for t in tokens if t.value >= 10_000]
    if len(tokens) == 1 and bare:
        return int(bare[0].value)
    return None


def mentions_money(text: str) -> bool:
    """Tell whether the text states an amount with a unit of money (円, 万, 億)."""
    return any(_has_unit_of_money(t) for t in _tokens(normalize(text)))


def has_number(text: str) -> bool:
    """Tell whether the text contains a number in digits (12, ９０) or kanji with a unit (五人, 百万)."""
    return any(t.raw[0] in "0123456789" or t.after.startswith(("人", "名", "円")) or any(u in t.raw for u in _LARGE_UNITS)
               for t in _tokens(normalize(text)))


def mentions_people(text: str) -> bool:
    """Tell whether the text states a number of people (a number followed by 人 or 名)."""
    return any(t.after.startswith(_PERSON) for t in _tokens(normalize(text)))


def find_place(text: str, region: Region) -> Place | None:
    """Tell whether a typed place is inside the region: "いわき市平です", "小名浜" → inside; "郡山市" → outside."""
    key = surface_key(text)
    negated = _contains_any(key, region.negations)
    district = next((d for d, k in zip(region.districts, word_keys(region.districts)) if k in key), None)
    if _contains_any(key, region.names):
        # "いわき市外" names the region only to say the business is outside it.
        left = negated or _contains_any(key, [f"{n}市外" for n in region.names] + [f"{n}外" for n in region.names])
        return Place(False, None) if left else Place(True, _district_name(region, district))
    for m in _PLACE.finditer(unicodedata.normalize("NFKC", text)):
        name, suffix = m.group(1), m.group(2)
        if suffix in "町村" and any(d in name for d in region.districts):
            continue  # 四倉町, 常磐湯本町: districts of the region
        if suffix == "県" and region.home_prefecture and name.endswith(region.home_prefecture):
            continue  # the region's own prefecture says nothing either way
        return None if negated else Place(False, m.group())
    if district is not None:
        return Place(not negated, _district_name(region, district))
    if _contains_any(key, region.inside_words):
        return Place(not negated, None)
    elsewhere = next((w for w, k in zip(region.outside_words, word_keys(region.outside_words)) if k in key), None)
    if elsewhere is not None:
        return None if negated else Place(False, elsewhere)
    return None


def _district_name(region: Region, district: str | None) -> str:
    return f"{region.name}{district}" if district else region.name


def find_reply(text: str, kinds: Sequence[tuple[str, Iterable[str]]]) -> str | None:
    """Return the first kind whose words the text contains; kinds are checked in order.

    Order matters: "まだもらってない" is "not yet" before it is "no", and "わからない" is "unknown"
    before its ない makes it "no".
    """
    key = surface_key(text)
    if not key:
        return None
    return next((kind for kind, words in kinds if _contains_any(key, words)), None)


def find_keyword(text: str, groups: Iterable[tuple[str, Iterable[str]]]) -> str | None:
    """Return the group whose longest keyword the text contains; a tie between groups is None (not a guess)."""
    key = surface_key(text)
    best_len, best = 0, set()
    for group, words in groups:
        for w in word_keys(words):
            if not w or w not in key:
                continue
            if len(w) > best_len:
                best_len, best = len(w), {group}
            elif len(w) == best_len:
                best.add(group)
    return next(iter(best)) if len(best) == 1 else None


def _contains_any(key: str, words: Iterable[str]) -> bool:
    return any(w and w in key for w in word_keys(words))
