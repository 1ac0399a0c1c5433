"""Reading typed answers: head counts, money, places, yes/no and keywords, in the forms people type."""
from decimal import Decimal

import pytest

from handlers.answers import Count, find_count, find_keyword, find_place, find_reply, find_yen, parse_number
from handlers.eligibility import rules
from knowledge.model import Knowledge


@pytest.fixture(scope="module")
def subsidy(kb: Knowledge):
    return rules(kb)


@pytest.mark.parametrize("token,value", [
    ("12", 12), ("十二", 12), ("二十", 20), ("五", 5), ("百", 100), ("千二百三十四", 1234), ("一〇〇", 100),
    ("1.2百万", 1_200_000), ("5千万", 50_000_000), ("3億", 300_000_000), ("1億2000万", 120_000_000),
    ("一億五千万", 150_000_000), ("2.3億", 230_000_000), ("0.5億", 50_000_000), ("5万5千", 55_000),
])
def test_numbers_are_read_in_digits_kanji_and_both(token, value):
    assert parse_number(token) == Decimal(value)


@pytest.mark.parametrize("token", ["万", "億", "1.2.3", "."])
def test_a_unit_without_a_number_is_not_a_number(token):
    assert parse_number(token) is None


@pytest.mark.parametrize("text,low,high", [
    ("5人", 5, 5), ("五人", 5, 5), ("従業員は12名", 12, 12), ("十二人", 12, 12), ("12", 12, 12), ("１２名です", 12, 12),
    ("約10名ほど", 10, 10), ("5人しかいない", 5, 5), ("10～20人", 10, 20), ("10〜20人くらい", 10, 20),
    ("301人以上", 301, None), ("5人以下", 0, 5), ("従業員は0人", 0, 0), ("ひとり", 1, 1), ("ふたりです", 2, 2),
])
def test_head_counts_are_read_in_the_forms_people_type(text, low, high, subsidy):
    assert find_count(text, subsidy.words.alone, subsidy.words.nobody) == Count(low, high)


@pytest.mark.parametrize("text", ["一人でやっています", "従業員はいません", "自分だけです", "いない"])
def test_no_employees_is_read_as_zero(text, subsidy):
    assert find_count(text, subsidy.words.alone, subsidy.words.nobody) == Count(0, 0)


@pytest.mark.parametrize("text", ["数十人", "十数名", "たくさん", "わからない", "1.5人", "90万円"])
def test_a_vague_or_foreign_answer_is_not_a_count(text, subsidy):
    assert find_count(text, subsidy.words.alone, subsidy.words.nobody) is None


@pytest.mark.parametrize("text,yen", [
    ("90万円", 900_000), ("900,000円", 900_000), ("９０万", 900_000), ("百万円", 1_000_000), ("1.2百万円", 1_200_000),
    ("3億円", 300_000_000), ("5千万円", 50_000_000), ("1,200万円", 12_000_000), ("約50万くらい", 500_000),
    ("900000", 900_000), ("1億2千万円", 120_000_000), ("一千万円", 10_000_000), ("90万円です。", 900_000),
    ("９００，０００円", 900_000), ("2.3億円", 230_000_000), ("12.34567万円", 123_456),
])
def test_amounts_of_money_are_read_in_the_forms_people_type(text, yen):
    assert find_yen(text) == yen


@pytest.mark.parametrize("text", ["90", "1000", "万円", "たくさん", "数百万円"])
def test_an_amount_without_a_clear_unit_is_not_guessed(text):
    assert find_yen(text) is None


@pytest.mark.parametrize("text,inside", [
    ("いわき市平です", True), ("小名浜", True), ("いわき", True), ("イワキ", True), ("福島県いわき市", True),
    ("四倉町", True), ("常磐湯本町です", True), ("勿来です", True), ("おなはま", True), ("市内です", True),
    ("久之浜", True), ("内郷", True), ("好間", True), ("三和", True), ("田人", True), ("川前", True), ("遠野", True),
    ("小川", True), ("大久", True), ("郡山市", False), ("福島県郡山市", False), ("東京", False), ("大熊町", False),
    ("いわき市ではありません", False), ("いわき市外です", False), ("遠野市", False), ("平塚市", False),
    ("うちの会社は須賀川市にあります", False), ("市外", False),
])
def test_places_are_told_inside_or_outside_iwaki(text, inside, subsidy):
    place = find_place(text, subsidy.region)
    assert place is not None and place.inside is inside


def test_the_district_is_kept_for_the_summary(subsidy):
    assert find_place("いわき市平です", subsidy.region).name == "いわき市平"
    assert find_place("郡山市", subsidy.region).name == "郡山市"


@pytest.mark.parametrize("text", ["はい", "福島県", "わからない", ""])
def test_a_text_naming_no_place_is_not_a_place(text, subsidy):
    assert find_place(text, subsidy.region) is None


@pytest.mark.parametrize("text,kind", [
    ("はい", "yes"), ("うん", "yes"), ("受けています", "yes"), ("いいえ", "no"), ("ない", "no"),
    ("もらってない", "no"), ("まだ", "not_yet"), ("まだもらってない", "not_yet"), ("これから相談します", "not_yet"),
    ("わからない", "unknown"), ("ハイ", "yes"),
])
def test_yes_no_and_not_yet_are_told_apart(text, kind, subsidy):
    w = subsidy.words
    kinds = [("not_yet", w.not_yet), ("unknown", w.unknown), ("no", w.no), ("yes", w.yes)]
    assert find_reply(text, kinds) == kind


def test_the_longest_keyword_wins_and_a_tie_is_not_guessed():
    groups = [("labour", ["人手不足", "it化"]), ("sales", ["アプリ", "顧客管理"])]
    assert find_keyword("人手不足をアプリで解消", groups) == "labour"
    assert find_keyword("IT化とアプリ", groups) is None
    assert find_keyword("何もない", groups) is None
