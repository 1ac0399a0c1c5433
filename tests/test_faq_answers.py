"""Answering: real-style questions reach the right facts; unrelated ones never get a program answer."""
import functools
import re
import unicodedata

import pytest
from sudachipy import Dictionary, SplitMode

from conftest import QUESTIONS, Chat, read_question_set
from handlers import faq
from knowledge.index import Hit
from knowledge.text import to_hiragana

IN_SCOPE = ["faq.jsonl", "faq_holdout.jsonl"]
OUT_OF_SCOPE = ["out_of_scope.jsonl", "out_of_scope_holdout.jsonl"]
# The hidden judging set asks for at least 95%; the bundled sets are held to the same bar.
REQUIRED_ACCURACY = 0.95
_KANJI = re.compile(r"[\u4e00-\u9fff々]")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def is_right(case: dict, result) -> bool:
    question = nfkc(case["text"])
    said = nfkc(result.text)
    if len(question) >= 8:  # an echo of the question proves nothing
        said = said.replace(question, "")
    return (result.intent not in ("fallback", "help", "greeting")
            and any(nfkc(a) in said for a in case["any"])
            and not any(nfkc(x) in said for x in case.get("none", [])))


@pytest.mark.parametrize("name", IN_SCOPE)
def test_in_scope_questions_are_answered_with_the_facts_asked(engine, name):
    cases = read_question_set(name)
    failures = wrong_answers(engine, cases, name)
    assert 1 - len(failures) / len(cases) >= REQUIRED_ACCURACY, "\n".join(failures)


def wrong_answers(engine, cases: list[dict], user: str) -> list[str]:
    """Ask each case (each as a user of its own) and describe those answered wrong."""
    failures = []
    for i, case in enumerate(cases):
        result = Chat(engine, user=f"{user}-{i}").say(case["text"])
        if not is_right(case, result):
            failures.append(f"{case['id']}: {case['text']} -> {result.intent} {result.entry_id} {result.score}")
    return failures


@pytest.mark.parametrize("name", OUT_OF_SCOPE)
def test_unrelated_questions_get_the_fallback_not_a_program(engine, name):
    wrong = []
    for i, case in enumerate(read_question_set(name)):
        result = Chat(engine, user=f"{name}-{i}").say(case["text"])
        if result.intent not in ("fallback", "handoff"):
            wrong.append(f"{case['id']}: {case['text']} -> {result.intent} {result.entry_id} {result.score}")
    assert not wrong, "\n".join(wrong)


def test_question_sets_are_present():
    assert all((QUESTIONS / n).exists() for n in IN_SCOPE + OUT_OF_SCOPE)


def test_a_fact_question_gets_the_fact_first(chat):
    result = chat.say("補助金の上限わ？")
    assert result.intent == "faq"
    assert result.entry_id == "management-development-subsidy"
    first_line = result.replies[0].text.splitlines()
    assert any("50万円" in line for line in first_line)


def test_hiragana_only_reaches_the_program(chat):
    assert chat.say("しょうがくきん").entry_id == "scholarship-repayment"


@pytest.mark.parametrize("text, entry, fact", [
    ("ほじょりつは？", "management-development-subsidy", "3分の2"),
    ("しんこうかいぎのしだい", "meeting-2017-11-30", "開会"),
    ("ききんはだれがおかねだしたの", "promotion-fund", "商工会議所"),
    ("ほんしゃをうつしたらさんねんでいくらもらえる", "headquarters-relocation-incentive", "600万円"),
])
def test_a_whole_question_typed_in_hiragana_is_answered_with_the_fact(chat, text, entry, fact):
    result = chat.say(text)
    assert result.entry_id == entry and fact in result.text


@functools.cache
def _tokenizer():  # type: ignore[no-untyped-def]
    return Dictionary(dict="small").tokenizer(mode=SplitMode.C)


def retyped_in_hiragana(text: str) -> str:
    """Return a question as typed without kanji conversion: every word's reading, in hiragana."""
    tokenizer = _tokenizer()
    return "".join(to_hiragana(m.reading_form() if m.part_of_speech()[0] not in ("補助記号", "空白") else m.surface())
                   for m in tokenizer.tokenize(nfkc(text)))


# The in-scope sets retyped in hiragana reached 84% with a kana question matched as one run, 92% once
# it is split into the knowledge's own words.
REQUIRED_KANA_ACCURACY = 0.90


def test_the_in_scope_questions_retyped_in_hiragana_are_still_answered(engine):
    cases = [dict(case, text=retyped_in_hiragana(case["text"]))
             for name in IN_SCOPE for case in read_question_set(name)]
    cases = [case for case in cases if not _KANJI.search(case["text"])]
    failures = wrong_answers(engine, cases, "kana")
    assert len(cases) > 150 and 1 - len(failures) / len(cases) >= REQUIRED_KANA_ACCURACY, "\n".join(failures)


@pytest.mark.parametrize("text, entry, fact", [
    ("ほじょきんの上限は？", "management-development-subsidy", "50万円"),
    ("はいすくーるかれっじ 市長に報告いつ", "high-school-college", "10月10日"),
])
def test_a_word_typed_in_hiragana_amid_kanji_is_read_as_the_knowledges_word(chat, text, entry, fact):
    result = chat.say(text)
    assert result.entry_id == entry and fact in result.text


def test_an_owners_everyday_word_for_the_subsidys_rate_is_its_cue(chat):
    # どれくらい asks the rate: with it, the FAQ guesses the subsidy rather than only offering it.
    result = chat.say("補助金は経費のどれくらい出してもらえる？")
    assert result.entry_id == "management-development-subsidy" and "3分の2" in result.text


@pytest.mark.parametrize("text", ["補助金はなんぼ", "ほじょきんってなんぼもらえるんだべ"])
def test_a_dialects_how_much_asks_the_amount_not_whether_we_get_it(chat, text):
    # なんぼ is いくら (Tohoku, Kansai): the amount fact first, and no eligibility check started.
    result = chat.say(text)
    assert result.intent == "faq" and "補助上限額：50万円" in result.text.split("\n")[:4]


def test_two_words_in_hiragana_side_by_side_stay_two_words(kb):
    assert kb.index.words("補助金はいくらもらえる？")[-2:] == ["イクラ", "モラエル"]


def with_a_word_retyped_in_hiragana(text: str, which: int) -> str:
    """Return a question with one of its kanji words (the first, or the last: `which` 0 or -1) left in hiragana."""
    morphemes = list(_tokenizer().tokenize(nfkc(text)))
    nouns = [i for i, m in enumerate(morphemes)
             if m.part_of_speech()[0] == "名詞" and len(m.surface()) >= 2 and _KANJI.search(m.surface())]
    if not nouns:
        return text
    return "".join(to_hiragana(m.reading_form()) if i == nouns[which] else m.surface() for i, m in enumerate(morphemes))


# The in-scope sets with one word left in hiragana amid kanji ("ほじょきんの上限"), its first or its
# last: 93% and 98% when Sudachi split and tagged such a word like any kana (ほ|じょ|きん), 98% and
# 98% once the knowledge's words are found in it first (SearchIndex._kana_words_in_katakana).
REQUIRED_MIXED_ACCURACY = 0.96


@pytest.mark.parametrize("which", [0, -1])
def test_the_in_scope_questions_with_a_word_in_hiragana_amid_kanji_are_still_answered(engine, which):
    cases = [dict(case, text=with_a_word_retyped_in_hiragana(case["text"], which))
             for name in IN_SCOPE for case in read_question_set(name)]
    cases = [case for case in cases if _KANJI.search(case["text"]) and re.search("[ぁ-ゖ]{3}", case["text"])]
    failures = wrong_answers(engine, cases, "mixed")
    assert len(cases) > 150 and 1 - len(failures) / len(cases) >= REQUIRED_MIXED_ACCURACY, "\n".join(failures)


@pytest.mark.parametrize("text", ["公庫の融資", "こうこのゆうし", "公庫に電話したい"])
def test_a_short_synonym_is_folded_as_a_whole_word_only(chat, text):
    # 公庫 (コウコ) is a word of its own here, and not inside 高校生 (コウコウセイ) of another entry.
    assert chat.say(text).entry_id == "desk-jfc"


@pytest.mark.parametrize("text, entry", [
    # The asker's context before the question.
    ("小さな印刷会社をやってます。経営発達補助金の上限っていくら？", "management-development-subsidy"),
    ("町で美容室をやってるんだけど、奨学金返還支援ってうちでも使えるの？", "scholarship-repayment"),
    ("今度父の会社を継ぐことになりました。事業承継の相談窓口はどこですか", "business-succession-center"),
    ("製造業の社長です、よろず支援拠点のコーディネーターに会社に来てもらえる？", "yorozu-support-collaboration"),
    # A "but" ends the context too, and the context may match another entry better than the question.
    ("従業員3人の飲食店だけど補助金つかえる？", "management-development-subsidy"),
    ("社員10人の工務店だけど事業承継の相談できるとこある？", "business-succession-center"),
    # The question first, and more about it after.
    ("補助率ってどれくらい？かかった経費の何割出るの", "management-development-subsidy"),
    # A question marked (？) and a remark after it, which names another entry's words (従業員, 人).
    ("市の補助金っていくらまで出るんですか？うちは従業員5人です", "management-development-subsidy"),
    ("発達補助金 上限50万？それとも100万？", "management-development-subsidy"),
    ("ｹｲｴｲﾊｯﾀﾂﾎｼﾞｮｷﾝ", "management-development-subsidy"),  # half-width katakana
    ("奨学金変換の支援", "scholarship-repayment"),  # the IME's homophone (変換 for 返還)
    ("市の工事って小さい会社でも受注しやすくなってる？", "public-procurement-promotion"),  # everyday words
    ("公共工事を地元の業者に回してくれる取り組み", "public-procurement-promotion"),
    ("お疲れさまです。奨学金かえしてる社員いるんだけど", "scholarship-repayment"),
    ("会社の本部をいわきに移す会社にお金が出るやつ、いくらもらえるの？", "headquarters-relocation-incentive"),
    # A need described without the program's name.
    ("東京にある総務の部署をいわきに移したら補助ある？", "headquarters-relocation-incentive"),
    ("工場を長男に譲りたいんだけど何から始めればいい？", "business-succession-center"),  # handing over is 事業承継
    ("みせを むすこに ゆずりたい どこに そうだんすれば いい", "business-succession-center"),
    # The whole guesses the subsidy; its last sentence alone would answer the guarantee fee's 補助.
    ("人が足りないのでITで省力化したい。市の補助は受けられますか", "management-development-subsidy"),
    # Politeness at length ("ご教示いただけますと幸いです") says nothing of what is asked.
    ("奨学金の返還を支援する補助について、在学中に借りた奨学金のうちどの程度が補助の対象となるのか、ご教示いただけますと幸いです。",
     "scholarship-repayment"),
    # English words amid Japanese: known ones fold to the knowledge's words, others are left out.
    ("浜魂 主催 who?", "hamakon"),
    ("bigdata 活用 補助金 ok?", "management-development-subsidy"),
    ("startup 支援 いわき", "startup-support-plan"),
    ("HQをTokyoからIwakiにmoveしたらincentiveもらえる？", "headquarters-relocation-incentive"),
    # The subsidy by what owners call it: the city's (management) subsidy for small businesses.
    ("市がやってる中小企業の経営の補助金について知りたい", "management-development-subsidy"),
    ("中小企業向けの補助金の財源は？", "management-development-subsidy"),
    ("市の補助金の元手はなに？", "management-development-subsidy"),
    ("よその会社と組んで地元の名物を作る勉強会ない？", "collaborative-business-seminar"),
    ("ハイスクールカレッジの発表はいつ市長にした？", "high-school-college"),  # 発表 is their プレゼン
    ("パン屋を開業したい", "startup-school"),  # パン is not パンフレット's, nor Japan's (ジャパン)
    ("ひまわり信金の委員は誰", "council-members"),  # the council's member from it, not its desk
    ("起業したいんだけど何から始めればいい", "startup-school"),  # not the succession desk's "何から始めれば"
    ("親の店を継ぐことになった", "successor-academy"),  # 継ぐ alone is 事業承継 too
])
def test_a_program_is_reached_however_the_question_is_written(chat, text, entry):
    result = chat.say(text)
    assert result.intent == "faq" and result.entry_id == entry


def test_a_question_after_the_askers_context_is_guessed_when_it_alone_is_a_guess(chat):
    result = chat.say("小さな食品工場をやっています。浜魂の運営団体はどこですか")
    assert result.intent == "faq" and result.entry_id == "desk-tatakiage"
    assert result.text.startswith("もしかして")


@pytest.mark.parametrize("text", ["うちは飲食店なんだけど、おすすめの温泉ある？", "建設会社をやってます。パスポートの申請方法は？"])
def test_context_before_an_unrelated_question_does_not_make_it_answered(chat, text):
    assert chat.say(text).intent == "fallback"


def test_a_remark_after_a_comma_is_not_taken_for_the_question(chat):
    # 使えねえ alone reads ツカエ, as in "使える支援" of the list of programs.
    assert chat.say("つまんねーボットだな、使えねえ").intent == "fallback"


def test_an_unsure_best_entry_far_ahead_of_the_rest_is_offered_as_a_guess_with_its_answer(chat):
    result = chat.say("けいきょうちょうさはどのくらいのひんどでおこなわれていますか?")
    assert result.intent == "faq" and result.entry_id == "joint-economic-survey"
    assert result.text.startswith("もしかして")


@pytest.mark.parametrize("question, best, runner_up, verdict", [
    ("商談会", 0.45, 0.45 - faq.DOMINANT_LEAD - 0.01, faq.GUESS),  # unsure, but far ahead
    ("商談会", 0.45, 0.45 - faq.DOMINANT_LEAD + 0.01, faq.SUGGEST),  # unsure, and others close
    ("商談会", faq.SUGGEST_AT - 0.01, 0.0, faq.FALL_BACK),  # too unsure however far ahead
    ("商談会は何社出たの", 0.45, 0.45 - faq.FACT_LEAD - 0.01, faq.GUESS),  # asks the best one's fact
    ("商談会は何社出たの", 0.45, 0.45 - faq.FACT_LEAD + 0.01, faq.SUGGEST),  # ... but others are close
    ("商談会は何社出たの", faq.SUGGEST_AT - 0.01, 0.0, faq.FALL_BACK),
    ("商談会は何社出たの", faq.HEDGE_AT, faq.HEDGE_AT - 0.001, faq.GUESS),  # sure enough to need no lead
    ("商談会", faq.HEDGE_AT, faq.HEDGE_AT - 0.001, faq.SUGGEST),  # ... if it asks the best one's fact
])
def test_the_lead_over_the_runner_up_decides_between_a_guess_and_choices(kb, question, best, runner_up, verdict):
    # The trade fair has a fact cued by 何社; the seminar has none.
    hits = [Hit("reconstruction-trade-fair", best, best, best, ""),
            Hit("collaborative-business-seminar", runner_up, runner_up, runner_up, "")]
    assert faq._verdict(kb, question, hits) == verdict


def test_a_fact_asked_of_an_unsure_best_entry_somewhat_ahead_makes_it_a_guess(chat):
    result = chat.say("バイヤーを招いたいわきの商談会、売り手側の会社は何社出たの？")
    assert result.intent == "faq" and result.entry_id == "reconstruction-trade-fair" and "25社" in result.text


def test_a_program_asked_its_organiser_is_guessed_over_the_desk_of_the_organisation_beside_it(chat):
    # 浜魂 and the desk of the NPO that runs it score alike; the question asks the program's 主催.
    result = chat.say("ハマコンの主催者")
    assert result.entry_id == "hamakon" and "TATAKIAGE" in result.text


def test_a_tie_between_two_entries_goes_to_the_one_whose_facts_are_asked(chat, kb):
    # The NPO's desk scores a little higher; the question asks the program's 運営 (its organiser).
    hits = kb.index.search("はまたましいのうんえいだんたいは", limit=2)
    assert hits[0].entry_id == "desk-tatakiage" and hits[0].score - hits[1].score < faq.CLEAR_LEAD
    result = chat.say("はまたましいのうんえいだんたいは")
    assert result.entry_id == "hamakon" and "実施主体：NPO法人TATAKIAGE Japan" in result.text


def test_a_message_of_many_clauses_is_ranked_a_bounded_number_of_times(kb, monkeypatch):
    ranked = []
    search = kb.index.search
    monkeypatch.setattr(kb.index, "search", lambda text, limit=3: ranked.append(text) or search(text, limit))
    faq.search(kb, "補助金？" + "補助金、" * 1250, limit=4)
    assert len(ranked) <= faq.MAX_CLAUSES + 3  # the whole, its last clauses, its first sentence, then the part chosen


def test_every_answer_says_what_year_its_facts_are_from(chat):
    assert "平成29年度（2017年）時点の情報です" in chat.say("浜魂について知りたい").text


def test_an_answer_past_its_valid_until_warns_it_may_be_out_of_date(engine):
    past = Chat(engine, user="later", now="2026-11-27T10:00:00").say("経営発達補助金について教えて")
    then = Chat(engine, user="then", now="2017-12-01T10:00:00").say("経営発達補助金について教えて")
    assert "有効期限" in past.text
    assert "有効期限" not in then.text


def test_an_answer_offers_a_human_contact(chat):
    result = chat.say("浜魂について知りたい")
    assert "担当者に相談" in [c.label for c in result.choices]


def test_tapping_a_suggested_entry_answers_it(chat):
    result = chat.say("dummy", postback="faq:hamakon")
    assert result.entry_id == "hamakon"
    assert result.score == 1.0


def test_unrelated_question_is_recorded_without_who_asked(engine, db):
    from sqlalchemy import select

    from storage.models import RecordedQuestion

    Chat(engine, user="someone").say("今日の為替レートは？")
    with db.transaction() as session:
        rows = session.execute(select(RecordedQuestion)).scalars().all()
    assert [(r.text, r.reason) for r in rows] == [("今日の為替レートは？", "fallback")]
    assert not hasattr(RecordedQuestion, "user_id")


def test_greeting_thanks_and_help_get_short_replies_with_the_menu(chat):
    for text, intent in (("こんにちは", "greeting"), ("ありがとう", "greeting"), ("使い方", "help"), ("メニュー", "help"),
                         ("使い方を教えて", "help"), ("何ができるの？", "help")):
        result = chat.say(text)
        assert result.intent == intent, text
        assert "補助金診断" in [c.label for c in result.choices]


@pytest.mark.parametrize("text, entry", [("補助金で何ができる", "management-development-subsidy"),
                                         ("セミナーの使い方", None)])
def test_a_request_for_help_about_a_topic_is_a_question_about_it(chat, text, entry):
    result = chat.say(text)
    assert result.intent != "help" and result.entry_id == entry


def test_the_public_employment_office_is_not_a_greeting(chat):
    # ハローワーク begins with ハロー, which is no greeting word for that reason.
    assert chat.say("ハローワーク 求人").intent == "fallback"


def test_a_greeting_followed_by_a_question_is_answered_as_a_question(chat):
    assert chat.say("こんにちは、補助金の上限を教えてください").intent == "faq"


@pytest.mark.parametrize("text,place", [("仙台市の中小企業向け融資制度", "仙台市"), ("東京都の事業承継補助金の締め切り", "東京都"),
                                        ("福島市の創業支援", "福島市"), ("郡山の創業支援", "郡山"), ("仙台の商談会", "仙台"),
                                        # typed in kana, one of the knowledge's other places, by its sound
                                        ("ふくしましの ゆうしせいど おしえて", "福島市"), ("ｾﾝﾀﾞｲｼﾉ ｿｳｷﾞｮｳｼｴﾝ ｱﾙ?", "仙台市")])
def test_a_question_about_another_municipality_is_not_answered_with_iwakis_programs(chat, text, place):
    result = chat.say(text)
    assert result.intent == "fallback" and result.entry_id is None
    assert f"{place}の制度については、{place}の窓口" in result.text
    assert "補助金診断" in [c.label for c in result.choices]


@pytest.mark.parametrize("text,entry", [("いわき市の経営発達補助金", "management-development-subsidy"),
                                        ("福島県のよろず支援拠点", "yorozu-support-collaboration"),
                                        ("本社を東京からいわきに移したい", "headquarters-relocation-incentive"),
                                        ("小名浜の店で使える補助金", "management-development-subsidy"),  # a place in Iwaki
                                        ("パラオの研修はいつ", "high-school-college"),  # a place the knowledge names
                                        ("TATAKAGE Japanの取り組み", "hamakon"),  # no place: a name in Latin letters
                                        ("ふくしまけんのよろずしえんきょてん", "yorozu-support-collaboration")])
def test_iwaki_its_prefecture_and_a_place_named_in_passing_are_still_answered(chat, text, entry):
    result = chat.say(text)
    assert result.intent == "faq" and result.entry_id == entry


@pytest.mark.parametrize("text,program", [("持続化給付金ってまだ申請できる？", "持続化給付金"),
                                          ("じぞくかきゅうふきん", "持続化給付金"),
                                          ("小規模事業者持続化補助金の締め切りは？", "小規模事業者持続化補助金"),
                                          ("コロナ 給付金", "コロナ給付金"),
                                          ("パート社員を正社員にしたらキャリアアップ助成金もらえる？", "キャリアアップ助成金"),
                                          ("しょうきぼきぎょうきょうさい 入りたい", "小規模企業共済")])
def test_a_question_about_the_states_program_is_not_answered_with_iwakis_subsidy(chat, text, program):
    result = chat.say(text)
    assert result.intent == "fallback" and result.entry_id is None
    assert f"「{program}」は国などの制度" in result.text


@pytest.mark.parametrize("text", ["自宅のお風呂をリフォームしたい。市から補助金って出る？", "子どもを保育園に入れたい。申し込みはどこ？",
                                  "市役所の職員採用試験はいつ？", "移住して空き家に住みたい、支援金ある？",
                                  "じょせい の けんしん むりょう に なる？", "ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ ﾉ ｳｹﾄﾘ ﾊﾞｼｮ",
                                  "宝くじの当選番号"])  # 当選 reads as the subsidy's 採択, 番号 as a desk's 電話番号
def test_a_matter_of_ones_own_life_is_told_the_bot_serves_businesses(chat, text):
    result = chat.say(text)
    assert result.intent == "fallback" and result.entry_id is None
    assert "事業者向けの支援制度" in result.text and "暮らしに関すること" in result.text


@pytest.mark.parametrize("text, entry", [("空き家を改装して店を開きたい", "startup-school"),
                                         ("自宅で教室を開業したい", "startup-school"),
                                         ("本社を引っ越したい", "headquarters-relocation-incentive")])
def test_a_matter_of_life_with_a_business_in_it_is_answered(chat, text, entry):
    result = chat.say(text)
    assert "暮らしに関すること" not in result.text and result.entry_id == entry


def test_a_word_of_business_typed_in_kana_keeps_a_question_for_businesses(chat):
    # なんけんしんせい holds けんしん (健診), a matter of one's own life; けいえい (経営) is business.
    result = chat.say("けいえいはったつほじょきんはなんけんしんせいあった")
    assert result.entry_id == "management-development-subsidy" and "35件" in result.text


def test_a_program_of_iwakis_own_calendar_is_not_taken_for_the_states(engine):
    result = Chat(engine, now="2017-06-01T09:00:00").say("IT導入補助金のセミナー")
    assert result.intent == "seminars"


@pytest.mark.parametrize("text, entry", [
    ("その補助金の財源はどこから来ているの？", "management-development-subsidy"),  # 財源: a cue of its 原資
    ("ビジネスモデル変えて新分野やりたい 補助ある？", "management-development-subsidy"),  # cues of what it covers
])
def test_a_facts_cue_of_few_entries_counts_towards_finding_the_entry(chat, text, entry):
    result = chat.say(text)
    assert result.intent == "faq" and result.entry_id == entry


def test_a_cue_of_every_procedure_does_not_make_an_unrelated_question_ours(chat):
    assert chat.say("パスポートの申請方法").intent == "fallback"  # 申請方法 is a cue, but of no one entry


def test_handing_the_business_over_in_everyday_words_is_business_succession(chat):
    # 引き継ぐ is 事業承継 (a synonym): the one-stop desk, not a list of choices.
    result = chat.say("会社を引き継ぐ相談をまとめて聞いてくれる窓口は？")
    assert result.intent == "faq" and result.entry_id == "business-succession-center"


def test_a_word_only_an_entrys_answer_tells_counts_towards_finding_it(chat):
    # インキュベーションマネージャー is in the council members' answer (and a desk's fact), in no key.
    result = chat.say("インキュベーションマネージャー 誰？")
    assert result.intent == "faq" and "奥瀬" in result.text


def test_a_question_for_a_thing_no_entry_tells_is_offered_the_closest_entries_not_answered(chat):
    # The bank's desk is named, but its interest rate is not in the knowledge: a choice to tap, not an answer.
    result = chat.say("日本政策金融公庫の金利は何％ですか")
    assert result.intent == "fallback" and "faq:desk-jfc" in [c.data for c in result.choices]
    assert "「金利」については、このチャットにはご案内できる情報がありません" in result.text
    assert chat.say("いわき商工会議所の年会費はいくらですか").intent == "fallback"


@pytest.mark.parametrize("text, thing", [("法務局の連絡先", "法務局"), ("東邦銀行の電話番号", "東邦銀行")])
def test_the_contact_of_someone_no_entry_names_is_not_answered_with_a_desk_the_knowledge_has(chat, text: str,
                                                                                              thing: str):
    result = chat.say(text)
    assert result.intent == "fallback" and f"「{thing}」については" in result.text


@pytest.mark.parametrize("text, entry_id", [
    ("奨学金の変換支援の補助率", "scholarship-repayment"),  # 変換 is the IME's 返還
    ("ハマコンの主催者", "hamakon"),
    ("日本政策金融公庫の電話番号", "desk-jfc"),
    ("商工会議所の連絡先", "desk-iwaki-cci"),
])
def test_a_question_for_a_thing_the_knowledge_tells_is_still_answered(chat, text: str, entry_id: str):
    result = chat.say(text)
    assert result.intent == "faq" and result.entry_id == entry_id


@pytest.mark.parametrize("text", ["ほじょりつはどれくらい", "補助率ってどのくらい"])
def test_how_much_at_the_end_asks_the_fact_and_is_no_word_of_its_own(chat, text: str):
    # Typed in kana, どれくらい would be split into ドレ|クライ, a word no entry has, weighing the match down.
    result = chat.say(text)
    assert result.intent == "faq" and "3分の2" in result.text
