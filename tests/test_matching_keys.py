"""What the quick matching paths rely on: keys of word lists, one-byte readings for rapidfuzz, the seminar words' index."""
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from knowledge.index import _ONE_BYTE, Vocabulary
from knowledge.model import Knowledge
from knowledge.seminars import FILE, SeminarCalendar
from knowledge.text import has_any, surface_key, word_keys

# Katakana, the Latin-1 characters they are swapped with, ASCII and a few kanji.
_READINGS = st.text(alphabet="アイウカキンーヴヶ\x80\xa0\xc0\xdf\xe0ab1 |補助金", max_size=20)


@given(_READINGS, _READINGS)
def test_readings_swapped_to_one_byte_score_as_written(a: str, b: str):
    swapped_a, swapped_b = a.translate(_ONE_BYTE), b.translate(_ONE_BYTE)
    assert swapped_a.translate(_ONE_BYTE) == a
    assert fuzz.ratio(swapped_a, swapped_b) == fuzz.ratio(a, b)
    assert fuzz.partial_ratio(swapped_a, swapped_b) == fuzz.partial_ratio(a, b)


def test_readings_of_katakana_are_one_byte_strings():
    assert max(map(ord, "ケイエイハッタツホジョキン".translate(_ONE_BYTE))) < 0x100


def test_word_keys_are_the_surface_keys_of_each_word_in_order():
    words = ["セミナー", "！", "ＩＴ講座", "セミナー"]
    assert word_keys(words) == tuple(surface_key(w) for w in words) == ("せみな", "", "it講座", "せみな")
    assert word_keys(iter(words)) == word_keys(words)


def test_has_any_ignores_words_without_a_key():
    assert not has_any("こんにちは", ["！", "？"])
    assert has_any("ＩＴのセミナー", ["！", "せみなー"])


@pytest.fixture
def calendar(kb: Knowledge) -> SeminarCalendar:
    return kb.section(FILE)


def test_every_word_of_the_calendar_is_found_in_a_question(calendar: SeminarCalendar):
    file = calendar.file
    words = [(w, tag.name, "tags") for tag in file.tags for w in (tag.name, *tag.words)]
    words += [(w, o.name, "organisers") for o in file.organisers for w in (o.name, *o.words)]
    words += [(w, s.id, "named") for s in file.seminars for w in (s.title, *s.names)]
    words += [(w, w, "keywords") for s in file.seminars for w in s.keywords]
    for word, target, kind in words:
        match = calendar.match(f"{word}について")
        assert target in {*match.tags, *match.organisers, *match.named, *match.keywords}, (word, kind)


def test_a_canonical_word_containing_one_of_its_variants_is_not_folded_again():
    vocabulary = Vocabulary.build([["商談会", "マッチング", "商談"]], [])
    assert vocabulary.key("商談会") == "ショウダンカイ"  # not ショウダンカイカイ: 商談 folded inside 商談会
    assert vocabulary.key("商談") == "ショウダンカイ"
    assert not vocabulary.trace("商談会").synonyms


def test_a_verbs_teru_typed_in_kana_is_not_tel(kb: Knowledge):
    # TEL reads テル, the ending of かんがえてる: it is no synonym of 電話番号, and no cue of a phone fact.
    assert "デンワバンゴウ" not in kb.index.words("はいぎょう かんがえてる あとつぎ いない")
    from handlers.faq import asked_facts
    desk = kb.entries["desk-iwaki-cci"]
    assert not asked_facts("しょうこうかいぎしょって なにやってる", desk, kb.index)
    assert [f.label for f in asked_facts("商工会議所 TEL", desk, kb.index)] == ["電話番号（セミナー等）"]


def test_a_synonym_of_several_words_folds_typed_in_kana_with_its_particles():
    vocabulary = Vocabulary.build([["官公需", "市の工事"]], [])
    assert vocabulary.key("市の工事") == vocabulary.key("しのこうじ") == "カンコウジュ"


def test_words_in_latin_letters_the_knowledge_does_not_know_are_left_out(kb: Knowledge):
    # "who" would be read letter by letter (ダブリュ…), a long word no entry has.
    assert kb.index.words("浜魂 主催 who?") == kb.index.words("浜魂 主催")
    assert kb.index.words("ＩＴセミナー") == kb.index.words("ITセミナー") != kb.index.words("セミナー")  # IT is known
    assert kb.index.words("seminar") == kb.index.words("セミナー")  # a synonym in Latin letters
    assert not kb.index.search("qwertyuiop")


def test_a_canonical_word_typed_as_itself_is_one_word_as_its_variants_fold_to(kb: Knowledge):
    # Split (ホジョ|キン), 補助金's キン was found in 奨学金: "補助金 対象者" was answered with the scholarship's.
    vocabulary = Vocabulary.build([["補助金", "助成金"]], [])
    assert vocabulary.key("補助金 対象者") == vocabulary.key("助成金 対象者") == "ホジョキン|タイショウ|シャ"
    assert kb.index.search("補助金 対象者")[0].entry_id == "management-development-subsidy"


def test_a_canonical_word_is_not_joined_inside_a_run_of_kana(kb: Knowledge):
    # いわき市 (イワキシ) begins イワキシンクミ: joined, it would hide しんくみ (いわき信用組合).
    assert "イワキシンヨウクミアイ" in kb.index.words("いわきしんくみの せみなーって どんなの")


def test_a_question_typed_in_kana_is_split_by_the_facts_cues_too(kb: Knowledge):
    # 財源 is a cue of the subsidy's 原資, no key of any entry: without it ノザイゲンハ was one unknown word.
    words = kb.index.words("そのほじょきんのざいげんはどこからきているの")
    assert "ザイゲン" in words and "ホジョキン" in words
    # A cue made of known words (いつから) stays those words, as the keys have them.
    assert kb.index.words("ほじょきんの もうしこみは いつから")[-2:] == ["イツ", "カラ"]


def test_a_variant_is_not_folded_across_words_it_begins_or_ends_inside(kb: Knowledge):
    # 会議|初回 reads カイギ|ショカイ: 会議所 (カイギショ) is there only across the boundary, ending inside 初回.
    assert kb.index.words("振興会議 初回") == ["シンコウカイギ", "ショカイ"]
    assert kb.index.search("振興会議 初回")[0].entry_id == "council-meetings"


def test_a_canonical_words_parts_typed_in_kana_are_still_words(kb: Knowledge):
    # 人手不足 is one word of the keys (ヒトデフソク); ﾋﾄﾃﾞﾌﾞｿｸ, sounded otherwise, splits on its parts.
    assert kb.index.words("ﾎｼﾞｮｷﾝ ﾋﾄﾃﾞﾌﾞｿｸ")[:2] == ["ホジョキン", "ヒトデ"]


def test_a_word_is_not_found_in_a_longer_syllable(kb: Knowledge):
    # 控除 (コウジョ) is no part of 振興条例 (シンコウジョウレイ), nor 投票 (トウヒョウ) of 風評 (フウヒョウ):
    # a match that ends or starts inside a lengthened sound is another word.
    assert kb.index.search("医療費控除")[0].coverage < 0.1
    assert kb.index.search("選挙の投票所")[0].coverage < 0.25


def test_a_long_kana_words_pieces_are_looked_for_as_whole_syllables(kb: Knowledge):
    # ショウキボソウギョウ (小規模企業 typed in kana) is two words of the keys. Its pieces that begin inside a
    # syllable (ウギョウ) are looked for widened to it (ソウギョウ), not dropped.
    assert kb.index.search("しょうきぼきぎょうのしんせいはなんけん")[0].entry_id == "management-development-subsidy"


@pytest.mark.parametrize("text, key", [
    ("基金はいつできた", "キキン|イツ|デキ"),  # 聞きたいんですけど, a noise phrase, reads キキン without its endings
    ("ききんはいつできた", "キキンハイツデキタ"),  # kana alone: the index splits it into words itself
    ("基金について聞きたいんですけど", "キキン"),
    ("ほじょきんについておしえて", "ホジョキン"),  # a phrase as typed in kana
    ("すみません、補助金の上限を教えて！", "ホジョキン|ジョウゲン"),
])
def test_noise_phrases_are_left_out_as_written_not_by_their_reading(kb: Knowledge, text, key):
    assert kb.index.vocabulary.key(text) == key


@pytest.mark.parametrize("text, word", [
    ("ハイスクールカレッジの発表", "プレゼン"),  # the teams プレゼン their proposals; users ask about their 発表
    ("商工会議所と金融機関の承継窓口", "ジギョウショウケイ"),  # 承継 alone is 事業承継
])
def test_an_everyday_word_folds_to_the_knowledges(kb: Knowledge, text, word):
    assert word in kb.index.words(text)


@pytest.mark.parametrize("word, known", [
    ("拠点", True),  # as written, inside よろず支援拠点
    ("変換", True),  # the IME's homophone of 返還, by its sound
    ("主催者", True),  # 主催 and 者, each a word of the knowledge
    ("奨励金", True),
    ("金利", False),
    ("会費", False),  # though カイヒ is heard in 何回開かれた
])
def test_the_index_knows_the_words_its_entries_have_as_written_or_as_read(kb: Knowledge, word: str, known: bool):
    assert kb.index.knows(word) is known
