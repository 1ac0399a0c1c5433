"""The questionnaire through `sme-bot chat --jsonl`: "flow": "eligibility" on every reply until the verdict."""
import json
import os
import subprocess
import sys
from pathlib import Path


def chat_jsonl(db: Path, turns: list[dict]) -> list[dict]:
    """Feed turns to one `sme-bot chat --jsonl` process on a SQLite file; return its output lines."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}")
    for key in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
                "KNOWLEDGE_DIR"):
        env.pop(key, None)
    lines = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--jsonl"], input=lines, capture_output=True,
                          text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def turns(user: str, texts: list[str], now: str = "2017-09-01T10:00:00+09:00") -> list[dict]:
    return [{"user": user, "text": t, "now": now} for t in texts]


def test_flow_is_eligibility_on_every_reply_until_the_verdict(tmp_path: Path):
    texts = ["補助金の対象になるか診断したい", "いわき市平です", "よくわからない業種です", "製造業", "5千万円", "五人",
             "戻る", "従業員は12名", "データに基づく経営管理", "900,000円", "まだ"]
    out = chat_jsonl(tmp_path / "a.db", turns("a", texts))
    assert len(out) == len(texts)
    assert [o["flow"] for o in out] == ["eligibility"] * (len(texts) - 1) + [None]
    assert all(o["intent"] == "eligibility" for o in out)
    assert "読み取れませんでした" in out[2]["text"]  # the re-asked question still reports the flow
    assert "✓ 企業規模：小規模企業に当たります（製造業その他で従業員20人以下）" in out[-1]["text"]
    assert "要確認 商工団体等の推薦" in out[-1]["text"] and "補助額の目安：50万円" in out[-1]["text"]
    assert out[-1]["choices"] == ["担当者に相談", "もう一度診断する"]


def test_a_cancelled_questionnaire_reports_no_flow(tmp_path: Path):
    out = chat_jsonl(tmp_path / "b.db", turns("b", ["補助金診断", "郡山市", "キャンセル", "郡山市"]))
    assert [o["flow"] for o in out] == ["eligibility", "eligibility", None, None]


def test_the_questionnaire_continues_across_processes(tmp_path: Path):
    db = tmp_path / "c.db"
    chat_jsonl(db, turns("c", ["補助金診断", "いわき市内"]))
    out = chat_jsonl(db, turns("c", ["卸売業"]))
    assert out[0]["flow"] == "eligibility" and "【質問 3/7】" in out[0]["text"]


def test_an_other_question_keeps_the_flow_and_offers_to_resume(tmp_path: Path):
    out = chat_jsonl(tmp_path / "d.db", turns("d", ["補助金診断", "いわき市内", "補助金の上限はいくらですか？"])
                     + [{"user": "d", "text": "続ける", "now": "2017-09-01T10:00:00+09:00"}])
    assert out[2]["flow"] == "eligibility" and out[2]["intent"] != "eligibility" and "続ける" in out[2]["choices"]
    assert out[3]["flow"] == "eligibility" and "【質問 2/7】" in out[3]["text"]
