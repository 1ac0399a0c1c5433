"""`sme-bot kb check` and the loader: every problem with file, line and what to fix; no start on a broken base."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.loader import BUNDLED_DIR, KnowledgeError
from knowledge.model import Knowledge


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """Return a writable copy of the bundled knowledge directory."""
    target = tmp_path / "knowledge"
    shutil.copytree(BUNDLED_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__", "README.md"))
    return target


def sme_bot(*args: str, env_extra: dict | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def test_bundled_knowledge_passes_the_check():
    result = sme_bot("kb", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "問題はありません" in result.stdout


def test_bundled_knowledge_has_every_numbered_program(kb: Knowledge):
    # 9 programs run by single organisations and 10 joint ones.
    programs = [e for e in kb.entries.values() if e.file == "programs.yaml"]
    assert len(programs) == 19


def test_every_answer_states_the_year_of_its_facts(kb: Knowledge):
    assert all("平成29年度" in e.as_of or "2017" in e.as_of for e in kb.entries.values())


def test_every_entry_has_example_questions_in_several_registers(kb: Knowledge):
    for e in kb.entries.values():
        assert len(e.entry.questions) >= 3, e.id


def test_a_yaml_syntax_error_is_reported_with_its_line(kb_copy: Path):
    path = kb_copy / "programs.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    title_line = next(i for i, line in enumerate(lines) if line.strip().startswith("title:"))
    lines[title_line] = lines[title_line].replace("title:", 'title: "unclosed', 1)
    path.write_text("\n".join(lines), encoding="utf-8")
    result = sme_bot("kb", "check", str(kb_copy))
    assert result.returncode == 1
    reported = int(result.stdout.split("programs.yaml:")[1].split(":")[0])
    assert abs(reported - (title_line + 1)) <= 2, result.stdout
    assert "YAMLの書き方に誤りがあります" in result.stdout


def test_schema_problems_are_all_listed_with_file_line_and_fix(kb_copy: Path):
    path = kb_copy / "programs.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("short_title:", "short_titel:", 1)  # a misspelt key
    text = text.replace("contacts: [secretariat", "contacts: [no-such-desk", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(kb_copy)
    messages = [str(p) for p in err.value.problems]
    assert any("short_titel" in m and "知らない項目" in m for m in messages), messages
    assert any("short_title" in m and "必須の項目" in m for m in messages), messages
    assert all(m.startswith("programs.yaml:") for m in messages), messages
    assert all(p.line for p in err.value.problems)


def test_a_label_over_twenty_characters_is_refused(kb_copy: Path):
    path = kb_copy / "messages.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("label: 使い方", "label: " + "あ" * 21), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(kb_copy)
    assert any("20文字まで" in str(p) for p in err.value.problems)


@pytest.mark.parametrize("message, placeholder, written, edited", [
    ("elsewhere", "{place}", "{place}の制度については、{place}の窓口へお問い合わせください。", ""),
    ("other_program", "{program}", "「{program}」は", "それは"),
    ("unknown_thing", "{thing}", "「{thing}」については", "それについては"),
])
def test_a_message_without_its_placeholder_is_refused(kb_copy: Path, message: str, placeholder: str, written: str,
                                                     edited: str):
    path = kb_copy / "messages.yaml"
    text = path.read_text(encoding="utf-8")
    assert written in text
    path.write_text(text.replace(written, edited), encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(kb_copy)
    assert any(message in str(p) and placeholder in str(p) for p in err.value.problems)


def test_duplicate_entry_ids_are_refused(kb_copy: Path):
    (kb_copy / "extra.yaml").write_text(
        "as_of: 平成29年度（2017年）\nentries:\n  - id: hamakon\n    title: 重複\n    short_title: 重複\n"
        "    section: テスト\n    keywords: [重複]\n    questions: [a, b, c]\n    answer: 重複です。\n",
        encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(kb_copy)
    # Files are read in name order: the entry in programs.yaml is the second "hamakon".
    assert any(str(p).startswith("programs.yaml:") and "hamakon" in str(p) and "extra.yaml" in str(p)
               for p in err.value.problems)


def test_an_entrys_menu_must_be_an_item_of_the_menu(kb_copy: Path):
    programs = kb_copy / "programs.yaml"
    programs.write_text(programs.read_text(encoding="utf-8").replace("menu: 補助金診断", "menu: 補助金しんだん"),
                        encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        Knowledge.load(kb_copy)
    assert any(str(p).startswith("programs.yaml:") and "補助金しんだん" in str(p) and "menu" in str(p)
               for p in err.value.problems)


def test_python_tags_in_yaml_are_refused(kb_copy: Path):
    (kb_copy / "synonyms.yaml").write_text("groups: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    result = sme_bot("kb", "check", str(kb_copy))
    assert result.returncode == 1
    assert "synonyms.yaml:1" in result.stdout
    assert "hacked" not in result.stdout


def test_the_bot_refuses_to_start_on_a_broken_knowledge_base(kb_copy: Path, tmp_path: Path):
    (kb_copy / "contacts.yaml").write_text("contacts: []\n", encoding="utf-8")
    result = sme_bot("chat", "--jsonl", env_extra={"KNOWLEDGE_DIR": str(kb_copy),
                                                   "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
                     stdin='{"user": "a", "text": "こんにちは"}\n')
    assert result.returncode == 2
    assert "知識ベースに誤りがあるため起動できません" in result.stderr
    assert "contacts.yaml" in result.stderr
    assert result.stdout == ""
