"""Japanese text keys: width, kana, readings, IME homophones."""
from knowledge.text import bigrams, nfkc, reading_key, surface_key, to_hiragana, to_katakana


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
