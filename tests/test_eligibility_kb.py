"""subsidy.yaml is admin-editable: a rate, a cap, a window or a question is a YAML edit, and `sme-bot kb check` catches mistakes."""
from datetime import date
from pathlib import Path

import pytest

from bot.engine import Engine
from handlers.eligibility import rules
from handlers.verdict import call_status, subsidy_amount
from knowledge.loader import KnowledgeError
from knowledge.model import Knowledge
from tests.conftest import Chat
from tests.test_knowledge_check import kb_copy, sme_bot  # noqa: F401  (kb_copy is a fixture)


def edit(directory: Path, old: str, new: str) -> int:
    """Replace text in the copy's subsidy.yaml; return the 1-based line of the edit."""
    path = directory / "subsidy.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as raised:
        Knowledge.load(directory)
    return [str(p) for p in raised.value.problems]


def test_the_bundled_subsidy_rules_load(kb: Knowledge):
    subsidy = rules(kb)
    assert subsidy.cap_yen == 500_000 and str(subsidy.rate) == "3分の2"
    assert [q.id for q in subsidy.questions] == ["location", "industry", "capital", "employees", "issue", "cost",
                                                 "recommendation"]


def test_a_changed_rate_and_cap_change_the_amount_without_code(kb_copy: Path):
    edit(kb_copy, "  numerator: 2\n  denominator: 3", "  numerator: 1\n  denominator: 2")
    edit(kb_copy, "cap_yen: 500000", "cap_yen: 1000000")
    subsidy = rules(Knowledge.load(kb_copy))
    assert subsidy_amount(subsidy, 900_000)[0] == 450_000 and subsidy_amount(subsidy, 3_000_000)[0] == 1_000_000


def test_a_new_call_window_opens_the_questionnaire_window(kb_copy: Path, db, settings):
    edit(kb_copy, "    closes: 2017-09-29\n",
         "    closes: 2017-09-29\n  - name: 次回\n    label: 令和8年11月1日～12月25日\n    opens: 2026-11-01\n    closes: 2026-12-25\n")
    kb = Knowledge.load(kb_copy)
    assert call_status(rules(kb), date(2026, 11, 27))[0] == "open"
    chat = Chat(Engine(db, settings, kb))
    for text in ["補助金診断", "いわき市内", "製造業", "1千万円以下", "5人", "販路開拓", "90万円"]:
        chat.say(text)
    final = chat.say("はい")
    assert "✓ 公募期間：公募期間中です（12月25日まで）" in final.text


def test_a_changed_question_is_asked_as_written(kb_copy: Path, db, settings):
    edit(kb_copy, "prompt: 事業所（本社・店舗・工場など）はいわき市内にありますか。", "prompt: 会社はいわき市にありますか。")
    chat = Chat(Engine(db, settings, Knowledge.load(kb_copy)))
    assert "会社はいわき市にありますか。" in chat.say("補助金診断").text


def test_a_label_over_20_characters_is_reported_with_its_line(kb_copy: Path):
    line = edit(kb_copy, "{label: いわき市外, value: outside}", "{label: いわき市外（福島県内のほかの市町村や県外）, value: outside}")
    result = sme_bot("kb", "check", str(kb_copy))
    assert result.returncode == 1 and f"subsidy.yaml:{line}:" in result.stdout and "20文字まで" in result.stdout


def test_more_than_13_buttons_are_reported(kb_copy: Path):
    extra = "".join(f"      - {{label: 案{i}, value: other}}\n" for i in range(8))
    edit(kb_copy, "      - {label: その他・まだ決めていない, value: other}\n",
         "      - {label: その他・まだ決めていない, value: other}\n" + extra)
    assert any("subsidy.yaml:" in p and "11個まで" in p for p in problems_of(kb_copy))


def test_a_threshold_inside_a_button_range_is_reported(kb_copy: Path):
    edit(kb_copy, "    employees_max: 50\n", "    employees_max: 40\n")
    line = edit(kb_copy, "      - {label: 21～50人, min: 21, max: 50}", "      - {label: 21～50人, min: 21, max: 50}")
    found = problems_of(kb_copy)
    assert any(p.startswith(f"subsidy.yaml:{line}:") and "40" in p and "またいで" in p for p in found), found


def test_an_unknown_placeholder_is_reported(kb_copy: Path):
    line = edit(kb_copy, "補助額の目安：{amount}（事業費 {cost}", "補助額の目安：{amout}（事業費 {cost}")
    found = problems_of(kb_copy)
    assert any(p.startswith(f"subsidy.yaml:{line}:") and "{amout}" in p for p in found), found


def test_an_unknown_contact_is_reported(kb_copy: Path):
    line = edit(kb_copy, "recommenders: [iwaki-cci-consult,", "recommenders: [iwaki-cci-typo,")
    found = problems_of(kb_copy)
    assert any(p.startswith(f"subsidy.yaml:{line}:") and "iwaki-cci-typo" in p for p in found), found


def test_an_unquoted_yes_is_reported(kb_copy: Path):
    line = edit(kb_copy, '{label: はい（推薦あり）, value: "yes"}', "{label: はい（推薦あり）, value: yes}")
    found = problems_of(kb_copy)
    assert any(p.startswith(f"subsidy.yaml:{line}:") for p in found), found


def test_an_unknown_question_id_is_reported(kb_copy: Path):
    line = edit(kb_copy, "  - id: cost\n", "  - id: costs\n")
    found = problems_of(kb_copy)
    assert any(p.startswith(f"subsidy.yaml:{line}:") and "costs" in p for p in found), found


def test_a_missing_question_is_reported(kb_copy: Path):
    path = kb_copy / "subsidy.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("  - id: recommendation\n"), text.index("# 文字で答えられたときの読み取り")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert any("recommendation がありません" in p for p in problems_of(kb_copy))


def test_a_call_that_closes_before_it_opens_is_reported(kb_copy: Path):
    edit(kb_copy, "    opens: 2017-08-21\n", "    opens: 2017-10-21\n")
    assert any("opens" in p and "subsidy.yaml:" in p for p in problems_of(kb_copy))
