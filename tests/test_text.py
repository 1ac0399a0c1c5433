"""Japanese text keys: width, kana, readings, IME homophones."""
import pytest

from knowledge.text import (asked_noun, bigrams, contact_owner, counterparts, cuts_syllable, has_syllables, nfkc,
                            reading_key, reading_tokens, surface_key, to_hiragana, to_katakana)


def test_half_width_katakana_is_folded_to_full_width():
    assert nfkc("ｹｲｴｲﾊｯﾀﾂﾎｼﾞｮｷﾝ") == "ケイエイハッタツホジョキン"


def test_full_width_latin_and_digits_are_folded_and_lowercased():
    assert nfkc("ＩＴ　２０１７") == "it 2017"


def test_surface_key_drops_punctuation_spaces_and_folds_katakana():
    assert surface_key("ハマコン って 何？！") == "はまこんって何"


def test_kana_folding_round_trips():
    assert to_katakana("しょうがくきん") == "ショウガクキン"
    assert to_hiragana("ショウガクキン") == "しょうがくきん"


def test_hiragana_only_and_kanji_questions_share_a_reading():
    assert reading_key("しょうがくきん") == reading_key("奨学金")


def test_half_width_kana_reads_like_kanji():
    assert reading_key("ｹｲｴｲﾊｯﾀﾂﾎｼﾞｮｷﾝ") == reading_key("経営発達補助金")


def test_ime_homophone_mistake_reads_like_the_right_word():
    # 変換 (conversion) typed for 返還 (repayment): both are ヘンカン.
    assert reading_key("奨学金変換") == reading_key("奨学金返還")


def test_particles_are_dropped_when_kanji_give_context():
    assert reading_key("補助金の上限") == reading_key("補助金上限")


def test_empty_and_symbol_only_text_has_no_key():
    assert reading_key("   ") == ""
    assert reading_key("！？") == ""


def test_bigrams_of_short_keys():
    assert bigrams("ア") == {"ア"}
    assert bigrams("") == set()
    assert bigrams("アイウ") == {"アイ", "イウ"}


def test_a_kana_word_inside_a_kanji_question_keeps_all_its_sounds():
    # Sudachi tags the が of しょう/が/く/きん as a particle; it is part of the word here.
    assert reading_tokens("しょうがくきんについて教えて")[0][0].startswith("ショウガクキン")


def test_a_kana_word_split_by_sudachi_is_one_word():
    assert "ショウケイ" in reading_tokens("事業しょうけいの窓口")[0]


@pytest.mark.parametrize("text", ["補助金の上限ｗ", "補助金の上限www", "補助金の上限笑", "補助金の上限（笑）", "ほじょきんのじょうげんｗｗ"])
def test_laughter_after_a_question_is_not_read_as_part_of_it(text):
    plain = "ほじょきんのじょうげん" if text.startswith("ほ") else "補助金の上限"
    assert reading_key(text) == reading_key(plain)


def test_a_word_typed_in_kana_at_the_start_keeps_its_first_kana_though_sudachi_calls_it_a_particle():
    parts, trusted = reading_tokens("はまこんの主催はどこ")  # は/ま/こん: は tagged as a particle
    assert trusted and "".join(parts).startswith("ハマコン")


@pytest.mark.parametrize("text, words", [("相談会ってある？", ("ソウダン", "カイ", "アル")),
                                         ("振興協議会って何", ("シンコウ", "キョウギ", "カイ", "ナン")),
                                         ("友達に会って話したい", ("トモダチ", "アッ", "ハナシ"))])  # the verb stays a verb
def test_a_nouns_kai_before_tte_is_the_suffix_not_to_meet(text, words):
    assert reading_tokens(text)[0] == words


@pytest.mark.parametrize("reading, at, cuts", [
    ("シンコウジョウレイ", 6, True),   # ジョ|ウ: the ウ lengthens ジョ
    ("トウヒョウ", 1, True),          # ト|ウ
    ("ケイエイ", 1, True),            # ケ|イ
    ("ホジョキン", 2, True),          # ジ|ョ: a small kana
    ("ホジョキン", 4, True),          # キ|ン
    ("カッセイ", 1, True),            # カ|ッ
    ("ホジョキン", 3, False),         # ホジョ|キン
    ("ソウギョウシエン", 5, False),    # ソウギョウ|シエン
    ("ケイエイ", 2, False),           # ケイ|エイ: エ begins a syllable
    ("ホジョ", 0, False),             # the ends are never inside
    ("ホジョ", 3, False),
])
def test_a_cut_inside_a_syllable_is_told(reading, at, cuts):
    assert cuts_syllable(reading, at) is cuts


def test_a_piece_counts_only_found_with_whole_syllables():
    assert not has_syllables("|シンコウジョウレイ|", "コウジョ")  # 控除 is not in 振興条例
    assert has_syllables("|コウジョ|コウジョウ|", "コウジョ")     # its second place is whole
    assert has_syllables("|ソウギョウシエン|", "シエン")


@pytest.mark.parametrize("text, reading", [
    ("はいすくーるかれっじ さんかにんずう", "ハイスクルカレッジ"),  # Sudachi tags the っ a symbol here
    ("よろずのこーでぃねーたーってかいしゃにきてくれる?", "ヨロズノコディネタ"),  # and the ぃ here
])
def test_a_small_kana_sudachi_takes_for_a_symbol_is_kept(text, reading):
    assert "".join(reading_tokens(text)[0]).startswith(reading)


@pytest.mark.parametrize("text, noun", [
    ("日本政策金融公庫の金利は何％ですか", "金利"),  # 何％ is passed over
    ("いわき商工会議所の年会費はいくらですか", "会費"),  # 年 counts, いくら is an amount
    ("本社機能の奨励金は1人いくら？", "奨励金"),  # the suffix is part of the word
    ("小名浜の店で使える補助金", "補助金"),  # a place, and 店 followed by で (where), are passed over
    ("経営の悩みを専門家に相談したい", None),  # an action asked for
    ("経営発達補助金って自分だけで申請できるの？", None),
    ("空き家を改装して店を開きたい", None),  # 店: one character, not to be told
    ("しょうがく金の支援は何人", None),  # 支援 asks an action; がく金 ends a word typed in kana
    ("ほじょきんのじょうげん", None),
    ("", None),
])
def test_the_noun_a_question_asks_about_is_its_last_noun_of_a_thing(text, noun):
    assert asked_noun(text) == noun


@pytest.mark.parametrize("text, named", [
    ("経営のことを専門家に無料で相談したい", ("専門家",)),
    ("信金さんに経営相談したい", ("信金さん",)),
    ("補助金のことを商工会に問い合わせたい", ("商工会",)),
    ("補助金について相談したい", ()),  # について, に関して: what about, not whom
    ("補助金に関して相談したい", ()),
    ("来月に相談したい", ()),  # a time
    ("誰かに相談したい", ()),  # a pronoun
    ("相談に乗ってほしい", ()),  # an action
])
def test_whom_a_message_turns_to_is_a_noun_before_ni(text, named):
    assert counterparts(text) == named


@pytest.mark.parametrize("text, owner", [
    ("法務局の連絡先", "法務局"),
    ("東邦銀行の電話番号", "東邦銀行"),
    ("ハローワークの電話番号", "ハローワーク"),
    ("税務署の場所はどこ", "税務署"),
    ("よろずの連絡先", None),  # in kana: not to be told
    ("いわきの窓口", None),  # a place
    ("補助金の上限", None),  # no contact asked
])
def test_whose_contact_is_asked_is_the_noun_before_the_contact_word(text, owner):
    assert contact_owner(text, ("連絡先", "電話", "番号", "場所", "窓口")) == owner
