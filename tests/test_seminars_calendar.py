"""seminars.yaml holds every item of the 平成29年度 calendar, and `kb check` refuses a broken edit with file:line."""
import shutil
from datetime import date
from pathlib import Path

import pytest

from knowledge.loader import BUNDLED_DIR, KnowledgeError
from knowledge.model import Knowledge
from knowledge.seminars import SeminarCalendar

# Every ■ item of the pamphlet's calendar (経営支援編), as (title fragment, first day of the item's
# date or month). Series listed in several months appear once per listing.
PAMPHLET = [
    ("知財専門家派遣相談会", date(2017, 4, 21)), ("知財専門家派遣相談会", date(2017, 5, 26)),
    ("知財専門家派遣相談会", date(2017, 6, 30)), ("知財専門家派遣相談会", date(2017, 7, 28)),
    ("知財専門家派遣相談会", date(2017, 8, 25)), ("知財専門家派遣相談会", date(2017, 9, 29)),
    ("知財専門家派遣相談会", date(2017, 10, 27)), ("知財専門家派遣相談会", date(2017, 11, 17)),
    ("知財専門家派遣相談会", date(2017, 12, 22)), ("知財専門家派遣相談会", date(2018, 1, 26)),
    ("知財専門家派遣相談会", date(2018, 2, 24)), ("知財専門家派遣相談会", date(2018, 3, 17)),
    ("弁護士等無料相談会", date(2017, 5, 26)), ("弁護士等無料相談会", date(2017, 8, 25)),
    ("弁護士等無料相談会", date(2017, 11, 17)), ("弁護士等無料相談会", date(2018, 2, 23)),
    ("IT導入補助金・消費税軽減税率対策セミナー", date(2017, 5, 31)),
    ("野心ある高校生ハイスクールカレッジ", date(2017, 5, 1)),
    ("企業活性化プロジェクト", date(2017, 6, 1)),
    ("IT経営力強化セミナー", date(2017, 6, 28)),
    ("販路開拓勉強会 in いわき", date(2017, 7, 20)),
    ("身の丈IT導入法", date(2017, 8, 23)),
    ("販路開拓セミナー", date(2017, 8, 28)),
    ("経営計画作成支援セミナー・個別相談会", date(2017, 9, 25)), ("経営計画作成支援セミナー・個別相談会", date(2017, 10, 25)),
    ("ネットマーケティングセミナー", date(2017, 9, 28)),
    ("機械加工・材料工学コース", date(2017, 9, 1)),
    ("焙炉コース", date(2017, 9, 1)),
    ("いわき産業イノベーションフォーラム", date(2017, 9, 4)),
    ("見本市・展示会活用セミナー", date(2017, 9, 27)),
    ("知的財産管理技能検定3級講座", date(2017, 9, 1)),
    ("ソーシャルメディア活用セミナー", date(2017, 10, 1)),
    ("事業計画書作成セミナー", date(2017, 10, 1)), ("事業計画書作成セミナー", date(2017, 11, 1)),
    ("飲食店経営者のための集客・売上・利益アップセミナー", date(2017, 10, 11)),
    ("中小企業者向けの経営相談会", date(2017, 10, 1)), ("中小企業者向けの経営相談会", date(2017, 11, 1)),
    ("経営安定特別相談室セミナー", date(2017, 11, 1)),
    ("よくわかる3級簿記講座", date(2017, 11, 1)),
    ("農商工連携セミナー", date(2017, 11, 1)),
    ("再生可能エネルギーコース", date(2017, 11, 1)),
    ("ロボティクスコース", date(2017, 11, 1)),
]


@pytest.fixture
def calendar(kb: Knowledge) -> SeminarCalendar:
    return kb.section("seminars.yaml")


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(BUNDLED_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__", "README.md"))
    return target


def test_every_item_of_the_pamphlet_calendar_is_a_dated_occurrence(calendar):
    occurrences = {(s.title, o.first) for s in calendar.seminars.values() for o in s.occurrences}
    for fragment, first in PAMPHLET:
        assert any(fragment in title and day == first for title, day in occurrences), (fragment, first)


def test_the_pamphlets_typos_are_fixed_and_its_own_words_still_find_the_seminar(calendar):
    titles = [s.title for s in calendar.seminars.values()]
    assert not any("版路" in t or "佛炉" in t for t in titles)
    for word, seminar_id in [("版路開拓セミナー", "market-development-seminar"), ("佛炉コース", "monozukuri-roaster"),
                             ("知的財産管理機能検定3級講座", "ip-management-skills-course")]:
        assert seminar_id in calendar.match(word).named, word


def test_every_seminar_has_organiser_phone_tags_and_what_it_is_about(calendar):
    for seminar in calendar.seminars.values():
        assert seminar.organiser and seminar.about and seminar.tags
        if seminar.source.startswith("平成29年度 セミナー等カレンダー"):  # the calendar gives every phone
            assert seminar.phone and seminar.phone.startswith("0246-"), seminar.id
        for occurrence in seminar.occurrences:
            assert date(2017, 4, 1) <= occurrence.first <= occurrence.last <= date(2018, 3, 31), seminar.id


def test_series_known_only_by_months_span_those_months(calendar):
    machining = calendar.get("monozukuri-machining-materials").occurrences[0]
    assert (machining.start, machining.end) == (date(2017, 9, 1), date(2018, 1, 31))
    consultation = calendar.get("sme-management-consultation")
    assert [o.sessions for o in consultation.occurrences] == ["月4回", "月6回"]


def test_the_city_calendar_page_and_the_allowed_tags_are_in_the_file(calendar):
    assert calendar.file.calendar_url == "http://www.city.iwaki.lg.jp/www/contents/1488506090835/index.html"
    names = {t.name for t in calendar.file.tags}
    assert {"IT", "マーケティング", "販路開拓", "創業", "事業承継", "知財", "ものづくり", "経営計画", "会計・簿記", "労務",
            "相談会", "法律", "飲食", "エネルギー", "ロボット"} <= names


def _load_problems(directory: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(directory)
    return [str(p) for p in err.value.problems]


def _edit(directory: Path, old: str, new: str) -> int:
    path = directory / "seminars.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


@pytest.mark.parametrize("old, new, says", [
    ("day: 2018-02-24", "day: 2018-02-30", "存在しない日付"),
    ("end: 2018-01-31", "end: 2017-08-31", "より前になっています"),
    ("phone: 0246-21-7570", "phone: 21-7570", "書き方が違います"),
    ("tags: [知財, 相談会]", "tags: [知財, 相談かい]", "tags に定義されていません"),
    ("organiser: 日本政策金融公庫", "organiser: 日本政策金融公庫いわき支店", "organisers にありません"),
    ("      - day: 2017-05-31", "      - start: 2017-05-31", "両方を書いてください"),
])
def test_a_broken_seminar_is_reported_with_its_line_and_what_to_fix(kb_copy: Path, old: str, new: str, says: str):
    line = _edit(kb_copy, old, new)
    problems = [p for p in _load_problems(kb_copy) if p.startswith("seminars.yaml")]
    assert problems and any(says in p for p in problems), problems
    reported = int(problems[0].split(":")[1])
    assert abs(reported - line) <= 2, (problems, line)


def test_a_duplicate_id_and_an_unknown_placeholder_are_refused(kb_copy: Path):
    _edit(kb_copy, "id: lawyer-free-consultation", "id: ip-expert-consultation")
    _edit(kb_copy, 'past_named: "「{title}」は{held}に開催済みです。"', 'past_named: "「{name}」は{held}に開催済みです。"')
    problems = _load_problems(kb_copy)
    assert any("{name}" in p and "使えません" in p for p in problems), problems
    assert all(p.startswith("seminars.yaml:") for p in problems), problems


def test_a_duplicate_id_alone_is_reported_with_its_line(kb_copy: Path):
    line = _edit(kb_copy, "id: lawyer-free-consultation", "id: ip-expert-consultation")
    problems = _load_problems(kb_copy)
    assert problems == [f"seminars.yaml:{line}: id「ip-expert-consultation」は1番目のセミナーでも使われています。別の id にしてください。"]


def test_a_missing_seminar_file_is_reported(kb_copy: Path):
    (kb_copy / "seminars.yaml").unlink()
    assert any("seminars.yaml" in p and "見つかりません" in p for p in _load_problems(kb_copy))


def test_an_admin_can_add_next_years_seminar_and_a_tag(kb_copy: Path):
    path = kb_copy / "seminars.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("  - name: イノベーション\n", "  - name: 観光\n    words: [観光, インバウンド]\n  - name: イノベーション\n", 1)
    text += """
  - id: inbound-seminar-2018
    title: インバウンド観光セミナー
    organiser: いわき商工会議所
    phone: 0246-25-9151
    tags: [観光]
    about: 外国人観光客の受け入れについて学ぶセミナーです。
    source: 平成30年度 セミナー等カレンダー
    occurrences:
      - day: 2018-06-20
"""
    path.write_text(text, encoding="utf-8")
    calendar = Knowledge.load(kb_copy).section("seminars.yaml")
    assert calendar.select(calendar.match("観光のセミナー"))[0].id == "inbound-seminar-2018"
