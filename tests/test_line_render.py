"""Replies rendered as LINE messages: accepted by the SDK's models and within LINE's documented limits."""
from __future__ import annotations

from datetime import date

import pytest
from linebot.v3.messaging import FlexCarousel, FlexMessage, PushMessageRequest

from bot.channels.line.render import (
    MAX_TEXT,
    clip,
    decode_postback,
    encode_postback,
    render,
    split_text,
    utf16_len,
)
from handlers import faq
from handlers.replies import Card, CardButton, Choice, Reply
from knowledge.model import Knowledge
from line_fake import check_message, check_messages


def seminar_card(n: int) -> Card:
    return Card(
        kind="seminar", title=f"第{n}回 創業セミナー「事業計画の立て方」", alt_text=f"12/{n} 創業セミナー",
        subtitle=f"2026年12月{n}日（木）14:00〜16:00", rows=(("会場", "いわき産業創造館 企画展示ホール"), ("定員", "30名")),
        body="事業計画書の書き方を、いわき市の支援制度の活用例とあわせて学びます。", footer="出典：いわき市産業創出課（2026年度）",
        buttons=(CardButton("詳細", data=f"seminar:detail:s{n}"), CardButton("リマインド", data=f"seminar:remind:s{n}:2026-12-0{n % 9 + 1}"),
                 CardButton("相談する", data="handoff:start")),
    )


VERDICT = Card(
    kind="verdict", title="経営発達補助金の診断結果", alt_text="診断結果：対象になる可能性があります（要確認 1件）",
    subtitle="対象になる可能性があります", rows=(("所在地", "✓ いわき市内に事業所があります"), ("業種", "✓ 小売業"),
                                         ("従業員数", "✗ 小規模事業者の範囲を超えています"), ("商工会議所", "要確認 会員かどうか")),
    body="補助額の目安：最大100万円（補助率2/3）", footer="出典：いわき市経営発達補助金 募集要項（2017年度）",
    buttons=(CardButton("いわき商工会議所", tel="0246-25-9151"), CardButton("担当者に相談", data="handoff:start")),
)


def test_every_program_of_the_bundled_knowledge_renders_as_a_valid_flex_bubble(kb: Knowledge) -> None:
    assert kb.entries
    for entry in kb.entries.values():
        card = faq.render_entry(kb, entry, date(2026, 11, 27), list(entry.entry.facts))
        [message] = render([Reply(cards=(card,))])
        check_message(message)
        flex = FlexMessage.from_dict(message)
        assert flex.alt_text == card.alt_text
        assert message["contents"]["type"] == "bubble"


def test_program_contact_is_a_tel_button(kb: Knowledge) -> None:
    entry = next(e for e in kb.entries.values() if any(kb.contacts[c].phone for c in e.entry.contacts if c in kb.contacts))
    card = faq.render_entry(kb, entry, date(2026, 11, 27), [])
    [message] = render([Reply(cards=(card,))])
    uris = [b["action"]["uri"] for b in message["contents"]["footer"]["contents"] if b["type"] == "button"
            and b["action"]["type"] == "uri"]
    assert any(uri.startswith("tel:0") and "-" not in uri for uri in uris)


def test_seminars_render_as_a_carousel_with_postback_buttons() -> None:
    cards = tuple(seminar_card(n) for n in range(1, 4))
    [message] = render([Reply("これからのセミナーです。", cards=cards)])[1:]
    check_message(message)
    carousel = FlexMessage.from_dict(message).contents
    assert isinstance(carousel, FlexCarousel) and len(carousel.contents) == 3
    actions = [b["action"] for b in message["contents"]["contents"][0]["footer"]["contents"] if b["type"] == "button"]
    assert [a["label"] for a in actions] == ["詳細", "リマインド", "相談する"]
    assert all(a["type"] == "postback" and a["displayText"] == a["label"] for a in actions)
    assert [decode_postback(a["data"]) for a in actions][0] == ("詳細", "seminar:detail:s1")
    assert "創業セミナー" in message["altText"]


def test_more_than_twelve_seminars_make_several_carousels() -> None:
    messages = render([Reply(cards=tuple(seminar_card(n) for n in range(1, 16)))])
    check_messages(messages)
    assert [len(m["contents"]["contents"]) for m in messages] == [12, 3]


def test_verdict_renders_as_a_bubble_with_marked_rows() -> None:
    [message] = render([Reply(cards=(VERDICT,))])
    check_message(message)
    rows = message["contents"]["body"]["contents"][3]["contents"]
    values = {row["contents"][1]["text"][:1]: row["contents"][1].get("color") for row in rows}
    assert values["✓"] != values["✗"] != values["要"] and None not in values.values()
    assert message["altText"] == VERDICT.alt_text


def test_lead_and_unknown_card_kinds_render_as_bubbles() -> None:
    for kind in ("lead", "something-new"):
        card = Card(kind=kind, title="ご相談内容の確認", alt_text="ご相談内容の確認", rows=(("お名前", "いわき 太郎"), ("ご連絡先", "")))
        check_messages(render([Reply(cards=(card,))]))


def test_choices_become_quick_replies_with_postback_or_message_actions() -> None:
    choices = (Choice("セミナー", "これからのセミナー"), Choice("はい"), Choice("とても長いラベルのついた選択肢で二十文字を超えます", "x"))
    [message] = render([Reply("どれにしますか。", choices=choices)])
    check_message(message)
    items = [i["action"] for i in message["quickReply"]["items"]]
    assert items[0]["type"] == "postback" and decode_postback(items[0]["data"]) == ("セミナー", "これからのセミナー")
    assert items[0]["displayText"] == "セミナー"
    assert items[1] == {"type": "message", "label": "はい", "text": "はい"}
    assert utf16_len(items[2]["label"]) <= 20 and items[2]["label"].endswith("…")
    assert decode_postback(items[2]["data"])[0] == choices[2].label  # the whole label still reaches the turn


def test_at_most_thirteen_quick_replies() -> None:
    [message] = render([Reply("選んでください。", choices=tuple(Choice(f"選択肢{n}", f"c{n}") for n in range(20)))])
    check_message(message)
    assert len(message["quickReply"]["items"]) == 13


def test_quick_replies_ride_on_the_last_message() -> None:
    messages = render([Reply("一つ目", choices=(Choice("古い選択肢"),)), Reply(cards=(VERDICT,), choices=(Choice("新しい選択肢"),))])
    assert "quickReply" not in messages[0]
    assert [i["action"]["label"] for i in messages[-1]["quickReply"]["items"]] == ["新しい選択肢"]


def test_postback_data_too_long_falls_back_to_the_typed_label() -> None:
    [message] = render([Reply("どうぞ。", choices=(Choice("長いデータ", "x" * 400),))])
    check_message(message)
    assert message["quickReply"]["items"][0]["action"] == {"type": "message", "label": "長いデータ", "text": "長いデータ"}


@pytest.mark.parametrize("raw", ["cancel", "faq:program-a", "123", '["a"]', '{"x": 1}', "{broken"])
def test_postback_data_not_made_by_us_stands_for_both_label_and_data(raw: str) -> None:
    assert decode_postback(raw) == (raw, raw)


def test_postback_round_trip() -> None:
    encoded = encode_postback("はい、削除する", "privacy:forget")
    assert encoded is not None and decode_postback(encoded) == ("はい、削除する", "privacy:forget")


def test_long_text_is_split_at_a_sentence_end_within_the_limit() -> None:
    sentence = "経営発達補助金は、いわき市内の小規模事業者の販路開拓を支援する制度です。"
    text = sentence * 400
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(utf16_len(p) <= MAX_TEXT for p in pieces)
    assert all(p.endswith("。") for p in pieces)
    assert "".join(pieces) == text


def test_emoji_count_twice_as_line_counts_them() -> None:
    text = "🙇" * 3000  # 6,000 UTF-16 units although 3,000 characters
    pieces = split_text(text)
    assert [utf16_len(p) for p in pieces] == [5000, 1000]
    assert "".join(pieces) == text
    assert utf16_len(clip("🙇" * 30, 20)) <= 20


def test_text_without_sentence_ends_is_cut_hard() -> None:
    pieces = split_text("あ" * 12000)
    assert [len(p) for p in pieces] == [5000, 5000, 2000]


def test_at_most_five_messages_and_nothing_silently_dropped() -> None:
    replies = [Reply(cards=(VERDICT,)) for _ in range(7)] + [Reply("最後のお知らせです。")]
    messages = render(replies)
    check_messages(messages)
    assert len(messages) == 5
    assert "最後のお知らせです。" in messages[-1]["text"]
    assert VERDICT.title in messages[-1]["text"]


def test_neighbouring_texts_are_joined_into_one_message() -> None:
    messages = render([Reply("一つ目です。"), Reply("二つ目です。"), Reply("三つ目です。")])
    assert messages == [{"type": "text", "text": "一つ目です。\n\n二つ目です。\n\n三つ目です。"}]


def test_rendered_replies_fit_a_push_request() -> None:
    messages = render([Reply("こんにちは。", cards=(VERDICT, seminar_card(1)), choices=(Choice("はい", "yes"),))])
    request = PushMessageRequest.from_dict({"to": "U4af4980629a1b2c3d4e5f60718293a4b", "messages": messages})
    assert len(request.messages) == len(messages)


def test_empty_replies_render_nothing() -> None:
    assert render([]) == [] and render([Reply("")]) == []


def test_a_card_too_large_for_flex_is_sent_as_text_that_keeps_every_fact() -> None:
    # A bubble's JSON may not exceed 30 KB (Japanese is 3 bytes a character in UTF-8): rows that
    # together pass it, though each row alone would fit, make the card go as text.
    rows = tuple((f"項目{i}", "補助対象経費の説明" * 60) for i in range(20))
    card = Card(kind="program", title="経営発達補助金", alt_text="経営発達補助金", rows=rows)
    messages = render([Reply("詳細です。", cards=(card,))])
    assert all(m["type"] == "text" for m in messages)
    sent = "".join(m["text"] for m in messages)
    assert "【経営発達補助金】" in sent and all(f"項目{i}" in sent for i in range(20))
