"""The `sme-bot` command."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from bot.config import Settings, configure_logging
from knowledge.loader import KnowledgeError

Command = Callable[[argparse.Namespace, Settings], int]


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.engine import Engine

    return Engine.from_settings(settings)


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """Chat in the terminal (or answer JSON lines with --jsonl)."""
    from bot.channels import console

    # Per-turn INFO lines would interleave with the conversation in the terminal.
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    engine = _engine(settings)
    if args.jsonl:
        console.run_jsonl(engine, sys.stdin, sys.stdout)
    else:
        console.run_interactive(engine, sys.stdin, sys.stdout)
    return 0


def cmd_kb_check(args: argparse.Namespace, settings: Settings) -> int:
    """Validate a knowledge directory and print every problem."""
    from knowledge.model import Knowledge

    directory = args.dir or settings.knowledge_dir
    try:
        kb = Knowledge.load(directory)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"\n{len(exc.problems)}件の問題があります。上の行の「ファイル名:行番号」の箇所を直してから、もう一度確認してください。")
        return 1
    print(f"問題はありません（回答項目 {len(kb.entries)}件、連絡先 {len(kb.contacts)}件、版 {kb.version}）。")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the web app locally."""
    from bot.app import create_app

    app = create_app(settings)
    print(f"http://{args.host}:{args.port}/ で起動しました（終了は Ctrl+C）。")
    app.run(host=args.host, port=args.port, debug=False, threaded=True)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the database schema to the newest migration."""
    from storage.db import Database

    Database(settings.database_url).upgrade()
    print("データベースを最新の状態にしました。")
    return 0


def cmd_line_richmenu(args: argparse.Namespace, settings: Settings) -> int:
    """Create and set the default LINE rich menu (or, with --preview, only draw its image)."""
    from bot.channels.line import richmenu

    return richmenu.command(settings, args.preview)


def cmd_seminars_ics(args: argparse.Namespace, settings: Settings) -> int:
    """Write the seminar calendar as iCalendar to standard output."""
    from datetime import datetime, timezone

    from bot import calendar_feed
    from knowledge.model import Knowledge

    calendar = Knowledge.load(settings.knowledge_dir).section("seminars.yaml")
    sys.stdout.buffer.write(calendar_feed.build(calendar, datetime.now(timezone.utc)))
    sys.stdout.flush()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver leads, relays and pushes from the outbox until stopped (or one batch with --once)."""
    from bot import outbox

    if args.once:
        taken = outbox.Worker.from_settings(settings).run_once()
        print(f"{taken}件の送信を処理しました。")
        return 0
    outbox.run_forever(settings)
    return 0


def cmd_leads_list(args: argparse.Namespace, settings: Settings) -> int:
    """List every lead with its status, delivery attempts and last error."""
    import json

    from bot import outbox
    from storage.db import Database

    db = Database(settings.database_url)
    db.prepare()
    rows = outbox.lead_report(db, args.status)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        print(outbox.format_lead_report(rows, bool(settings.slack_bot_token and settings.slack_handoff_channel)))
    return 0


def cmd_kb_test(args: argparse.Namespace, settings: Settings) -> int:
    """Run question sets against the knowledge as edited; non-zero if any question fails."""
    from bot import question_sets

    return question_sets.command(args.files, args.dir or settings.knowledge_dir, sys.stdout)


def cmd_kb_explain(args: argparse.Namespace, settings: Settings) -> int:
    """Show which entries a question matched, with scores, synonyms and readings, and the decision."""
    from bot import explain
    from bot.channels.console import parse_now
    from bot.engine import now_in_tokyo
    from knowledge.model import Knowledge

    kb = Knowledge.load(args.dir or settings.knowledge_dir)
    print(explain.render(explain.explain(kb, args.question, parse_now(args.now) if args.now else now_in_tokyo())))
    return 0


def cmd_kb_gaps(args: argparse.Namespace, settings: Settings) -> int:
    """Group the questions the bot could not answer, most frequent first."""
    import json

    from bot import gaps

    engine = _engine(settings)
    found = gaps.find_gaps(engine.db, engine.kb, args.since)
    if args.json:
        print(json.dumps([g.as_json(engine.kb) for g in found], ensure_ascii=False, indent=1))
    else:
        print(gaps.render(found, engine.kb, args.since, args.limit))
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Show questions per day, top entries, fallback rate, questionnaires and leads."""
    import json

    from bot import stats

    engine = _engine(settings)
    figures = stats.collect(engine.db, engine.kb, args.since)
    print(json.dumps(figures.as_json(), ensure_ascii=False, indent=1) if args.json else stats.render(figures))
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    """Delete conversations, recorded questions, turn logs and resolved leads older than the retention period."""
    from datetime import timedelta

    from bot import housekeeping
    from bot.engine import now_in_tokyo
    from storage.db import Database

    older_than = args.older_than or timedelta(days=settings.purge_after_days)
    db = Database(settings.database_url)
    db.prepare()
    print(housekeeping.render_purge(housekeeping.purge(db, older_than, now_in_tokyo()), older_than))
    return 0


def _since(value: str):  # type: ignore[no-untyped-def]
    from bot.channels.console import parse_now

    try:
        return parse_now(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日付は 2026-11-01 の形で指定してください: {value}") from None


def _age(value: str):  # type: ignore[no-untyped-def]
    from bot.housekeeping import parse_age

    try:
        return parse_age(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="sme-bot", description="いわき市 中小企業支援チャットボット")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="ターミナルでボットと会話する")
    chat.add_argument("--jsonl", action="store_true", help="1行1JSONで入出力する（スクリプト・テスト用）")
    chat.set_defaults(func=cmd_chat)

    serve = sub.add_parser("serve", help="Webアプリ（Webhook、Webチャット）を起動する")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    kb = sub.add_parser("kb", help="知識ベース（YAML）の確認").add_subparsers(dest="kb_command", required=True)
    check = kb.add_parser("check", help="YAMLの誤りを確認する")
    check.add_argument("dir", nargs="?", type=Path, help="確認するフォルダ（省略時は KNOWLEDGE_DIR か同梱のもの）")
    check.set_defaults(func=cmd_kb_check)
    test = kb.add_parser("test", help="質問セット（JSON Lines）でボットの回答を確認する")
    test.add_argument("files", nargs="*", type=Path, help="質問セット（省略時は知識ベースの tests/*.jsonl）")
    test.add_argument("--dir", help="知識ベースのフォルダ（省略時は KNOWLEDGE_DIR か同梱のもの）")
    test.set_defaults(func=cmd_kb_test)
    explain = kb.add_parser("explain", help="質問に対して、どの項目がなぜ選ばれたかを表示する")
    explain.add_argument("question", help="質問の文")
    explain.add_argument("--dir", help="知識ベースのフォルダ（省略時は KNOWLEDGE_DIR か同梱のもの）")
    explain.add_argument("--now", help="この日時に聞かれたものとする（ISO 8601）")
    explain.set_defaults(func=cmd_kb_explain)
    gaps = kb.add_parser("gaps", help="答えられなかった質問を、似たものごとに多い順で表示する")
    gaps.add_argument("--since", type=_since, help="この日以降の質問だけ（例: 2026-11-01）")
    gaps.add_argument("--limit", type=int, help="表示するグループの数")
    gaps.add_argument("--json", action="store_true", help="JSON で出力する")
    gaps.set_defaults(func=cmd_kb_gaps)

    db = sub.add_parser("db", help="データベースの管理").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="スキーマを最新にする").set_defaults(func=cmd_db_upgrade)

    stats = sub.add_parser("stats", help="利用状況（日別の質問数、よく答えた項目、お答えできない割合、診断、取り次ぎ）")
    stats.add_argument("--since", type=_since, help="この日以降だけ（例: 2026-11-01）")
    stats.add_argument("--json", action="store_true", help="JSON で出力する")
    stats.set_defaults(func=cmd_stats)

    purge = sub.add_parser("purge", help="保存期間を過ぎた会話・質問・利用記録・対応済みの取り次ぎを削除する")
    purge.add_argument("--older-than", type=_age, help="この期間より古いものを削除（例: 180d。省略時は PURGE_AFTER_DAYS、既定 180日）")
    purge.set_defaults(func=cmd_purge)

    seminars = sub.add_parser("seminars", help="セミナーカレンダー").add_subparsers(dest="seminars_command", required=True)
    seminars.add_parser("ics", help="カレンダーアプリ用の iCalendar（.ics）を標準出力に書く（例: sme-bot seminars ics > seminars.ics）") \
        .set_defaults(func=cmd_seminars_ics)

    line = sub.add_parser("line", help="LINE 公式アカウントの設定").add_subparsers(dest="line_command", required=True)
    richmenu = line.add_parser("richmenu", help="リッチメニュー（画像つき）を作成して既定に設定する")
    richmenu.add_argument("--preview", type=Path, metavar="PNG", help="LINE には送らず、メニュー画像をこのファイルに保存する")
    richmenu.set_defaults(func=cmd_line_richmenu)

    worker = sub.add_parser("worker", help="送信キュー（Slack へのご相談の通知など）を配信し続ける")
    worker.add_argument("--once", action="store_true", help="1回分だけ配信して終わる")
    worker.set_defaults(func=cmd_worker)

    leads = sub.add_parser("leads", help="ご相談（リード）の確認").add_subparsers(dest="leads_command", required=True)
    leads_list = leads.add_parser("list", help="ご相談の一覧（状態、送信試行回数、最後のエラー）")
    leads_list.add_argument("--json", action="store_true", help="JSON で出力する")
    leads_list.add_argument("--status", choices=["queued", "delivered", "claimed", "resolved"], help="この状態のものだけ")
    leads_list.set_defaults(func=cmd_leads_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level, sys.stderr)  # standard output is the commands' own
    for stream in (sys.stdout, sys.stdin):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    try:
        return args.func(args, settings)
    except KnowledgeError as exc:
        print("知識ベースに誤りがあるため起動できません。`sme-bot kb check` で確認してください。", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
