"""Japanese text keys for matching: normalised surface forms and readings.

Users type on phones: hiragana only, half-width katakana, the wrong IME conversion
(奨学金「変換」 for 返還). Comparing by reading (katakana, from Sudachi) as well as by
surface form lets all of those reach the same key.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Container, Iterable, NamedTuple, Sequence

from sudachipy import Dictionary, SplitMode

_PUNCT = re.compile(r"[\s\u3000!-/:-@\[-`{-~、。・「」『』（）【】〔〕［］｛｝〈〉《》！？!?…‥〜～ー―－‐・※☆★♪♡♥◆◇○●◎□■△▲▽▼→←↑↓]+")
# Readings fold a few distinctions users do not make reliably when typing.
_READING_FOLD = str.maketrans({"ヅ": "ズ", "ヂ": "ジ", "ヲ": "オ", "ヮ": "ワ", "ヵ": "カ", "ヶ": "ケ"})
_DROP_POS = {"助詞", "助動詞", "補助記号", "空白"}
_KANA_WORD_POS = {"名詞", "接尾辞", "接頭辞", "助詞", "形状詞"}
_KANJI = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf々]")
# Sudachi leaves words it does not know in their own script; these ranges need a reading of their own.
_HIRAGANA = re.compile(r"[\u3041-\u3096]")
_SMALL_KANA = re.compile(r"[ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ]+")
# Laughter typed after a message (ｗ, www; 笑 at its end) says nothing of what is asked; Sudachi reads ｗ as ワット.
_LAUGHTER = re.compile(r"w+")
_LATIN_WORD = re.compile(r"[A-Za-z]+")  # after NFKC: full-width letters are ASCII


def nfkc(text: str) -> str:
    """Normalise width, compatibility characters and case."""
    return unicodedata.normalize("NFKC", text).lower()


_TO_KATAKANA = {c: c + 0x60 for c in range(0x3041, 0x3097)}
_TO_HIRAGANA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}


def to_katakana(text: str) -> str:
    """Fold hiragana to katakana."""
    return text.translate(_TO_KATAKANA)


def has_kanji(text: str) -> bool:
    """Tell whether a text has a kanji (then Sudachi's word split and particle tags can be trusted)."""
    return bool(_KANJI.search(text))


def has_hiragana(text: str) -> bool:
    """Tell whether a text has a hiragana (a particle or an ending: a phrase, not nouns alone)."""
    return bool(_HIRAGANA.search(text))


def kana_reading(kana: str) -> str:
    """Return the reading of a kana, as readings are compared (katakana, ヅ read ズ …)."""
    return to_katakana(kana).translate(_READING_FOLD)


@lru_cache(maxsize=4096)  # several handlers ask it of the same turn's text
def spoken_reading(text: str) -> str:
    """Return the reading of every word of a text, particles too (市の工事: シノコウジ), as it sounds typed in kana."""
    return _fold_reading("".join(_reading_of(m.surface, m.reading) for m in _tokens(nfkc(text))))


def latin_words(text: str) -> set[str]:
    """Return the words in Latin letters of a text, in lower case (full-width letters too)."""
    return {word.lower() for word in _LATIN_WORD.findall(nfkc(text))}


def without_latin_words(text: str, kept: Container[str]) -> str:
    """Return the text (NFKC) with its words in Latin letters left out, but those `kept` (in lower case)."""
    normal = nfkc(text)
    if not _LATIN_WORD.search(normal):
        return text
    return _LATIN_WORD.sub(lambda m: m.group(0) if m.group(0).lower() in kept else " ", normal)


def to_hiragana(text: str) -> str:
    """Fold katakana to hiragana."""
    return text.translate(_TO_HIRAGANA)


@lru_cache(maxsize=16384)  # several handlers key the same turn's text
def surface_key(text: str) -> str:
    """Return the surface form for matching: NFKC, lower case, hiragana, no punctuation or spaces."""
    return _PUNCT.sub("", to_hiragana(nfkc(text)))


def trim_phrases(text: str, phrases: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Leave out the phrases found at either end of a text, again and again; return what is left and them.

    A text is compared as its surface key is (width, case and katakana folded; punctuation and
    spaces skipped) against phrases given that way, longest first. At least two characters are left.
    """
    folded = surface_key(text)
    ends = tuple(phrases)
    if not ends or not (folded.startswith(ends) or folded.endswith(ends)):
        return text, ()  # most texts: nothing to leave out
    normal = nfkc(text)
    kept = [i for i, c in enumerate(normal) if not _PUNCT.fullmatch(c)]  # where each character of `folded` is
    start, end = 0, len(folded)
    dropped: list[str] = []
    changed = True
    while changed:
        changed = False
        for phrase in phrases:
            if end - start <= len(phrase) + 1:
                continue
            if folded.endswith(phrase, start, end):
                end -= len(phrase)
            elif folded.startswith(phrase, start, end):
                start += len(phrase)
            else:
                continue
            dropped.append(phrase)
            changed = True
    return normal[kept[start]:kept[end - 1] + 1], tuple(dropped)


# Sudachi's small system dictionary (package sudachidict_small). Against the core one it reads
# some rarer words differently (見本市 ミホンシ, 何人 ナニジン; but also 中小企業 チュウショウ where
# core says ナカショウ) and answers the question sets as well (bench/calibrate.py, the answer
# tests); every process that tokenises maps it, and it costs ~70 MB less resident memory than
# core's, which a process touches nearly whole while the search index is built.
SYSTEM_DICTIONARY = "small"


@lru_cache(maxsize=1)
def _dictionary() -> Dictionary:
    return Dictionary(dict=SYSTEM_DICTIONARY)


# A Sudachi tokenizer refuses concurrent use ("Tokenizer is already in use"); the web app answers
# on several threads, so each thread gets its own over the one shared dictionary.
_local = threading.local()


def _tokenizer():  # type: ignore[no-untyped-def]
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _local.tokenizer = _dictionary().tokenizer(mode=SplitMode.C)
    return tokenizer


class _Morpheme(NamedTuple):
    """A morpheme as Sudachi reads it, with the levels of its part of speech the matcher looks at."""

    surface: str
    reading: str
    pos: str  # 名詞, 助詞 …
    kind: str  # its second level: 普通名詞, 固有名詞, 数詞 …
    detail: str  # its third level: 地名 for a place, 副詞可能 for a noun of time (場合, 際) …


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[_Morpheme, ...]:
    """Return the NFKC text's morphemes."""
    tokens: list[_Morpheme] = []
    for m in _tokenizer().tokenize(text):
        pos = m.part_of_speech()
        token = _Morpheme(m.surface(), m.reading_form(), pos[0], pos[1], pos[2])
        if token.surface == "会っ" and tokens and tokens[-1].pos == "名詞":
            # Sudachi reads 相談会って, 説明会って as 相談|会っ(て) (to meet): the suffix 会 (カイ) it is.
            token = _Morpheme("会", "カイ", "接尾辞", "名詞的", "*")
        tokens.append(token)
    return tuple(tokens)


def _reading_of(surface: str, reading: str) -> str:
    """Return a morpheme's reading; a word Sudachi does not know (no reading, or キゴウ for a symbol) as written."""
    return reading if reading and reading != "キゴウ" else to_katakana(surface)


def _fold_reading(reading: str) -> str:
    reading = reading.translate(_READING_FOLD)
    return _PUNCT.sub("", reading)


@lru_cache(maxsize=8192)
def reading_tokens(text: str) -> tuple[tuple[str, ...], bool]:
    """Return the readings (katakana) of a text's words, and whether the word split can be trusted.

    Sudachi splits hiragana-only input unreliably (しょうがくきん → しょう/が/く/きん) and would
    tag parts of it as particles; its split and particle tags are only trusted when kanji give
    it context. Particles and symbols are dropped from a trusted split.
    """
    text = nfkc(text)
    if not text.strip():
        return (), False
    trusted = has_kanji(text)
    # Symbols and spaces go; but not a small kana Sudachi takes for one (っ of かれっじ, ぃ of こーでぃねーたー): it is part of a word.
    tokens = [t for t in _tokens(text[:2000])
              if (t.pos not in ("補助記号", "空白") or _SMALL_KANA.fullmatch(t.surface))
              and not _LAUGHTER.fullmatch(t.surface)]
    if len(tokens) > 1 and tokens[-1].surface == "笑":
        tokens.pop()
    parts: list[str] = []
    previous_kana = False
    for i, (surface, reading, pos, _, _) in enumerate(tokens):
        if trusted and pos in _DROP_POS and _HIRAGANA.fullmatch(surface[:1] or "x"):
            # A one-kana "particle" between two hiragana pieces, or before one at the very start (no
            # particle begins a message), is part of a word typed in kana (しょう/が/く/きん, は/ま/こん).
            neighbours = (i + 1,) if i == 0 else (i - 1, i + 1)
            inside_kana_word = (len(surface) == 1 and i < len(tokens) - 1
                                and all(_HIRAGANA.fullmatch(tokens[j].surface[:1] or "x") for j in neighbours))
            if not inside_kana_word:
                continue
        reading = _fold_reading(_reading_of(surface, reading))
        if not reading:
            continue
        # A word typed in kana is one word, however Sudachi split it (しょ/うけい); verb endings
        # (さ/れ/た) are not glued on, as no word of the knowledge carries them.
        kana = bool(_HIRAGANA.fullmatch(surface[:1] or "x")) and pos in _KANA_WORD_POS
        if kana and previous_kana and parts:
            parts[-1] += reading
        else:
            parts.append(reading)
        previous_kana = kana
    return tuple(parts), trusted


# What follows a place name when a municipality or prefecture is meant (仙台|市, 東京|都).
_ADMINISTRATIVE_SUFFIXES = {"都", "道", "府", "県", "市", "区", "町", "村"}


def municipalities(text: str) -> tuple[str, ...]:
    """Return the municipalities and prefectures a text names, each with its suffix (仙台市, 東京都).

    Its morphemes are tokenised once per text, in the cache reading_tokens() uses too.
    """
    tokens = _tokens(nfkc(text)[:2000])
    return tuple(place.surface + suffix.surface for place, suffix in zip(tokens, tokens[1:])
                 if place.detail == "地名" and suffix.surface in _ADMINISTRATIVE_SUFFIXES)


def owner_places(text: str) -> tuple[str, ...]:
    """Return the place names a text gives without a suffix as the owner of what it asks (郡山の創業支援: 郡山).

    Not one in Latin letters: Sudachi takes the Japan of "TATAKIAGE Japanの取り組み" for the country.
    """
    tokens = _tokens(nfkc(text)[:2000])
    return tuple(place.surface for place, particle in zip(tokens, tokens[1:])
                 if place.detail == "地名" and not place.surface.isascii()
                 and particle.surface == "の" and particle.pos == "助詞")


# Particles after which a noun says how, where or with whom, not what is asked (自分だけで申請できる？, 店で使える).
_ADVERBIAL_PARTICLES = {"で", "に", "へ", "から", "と", "より", "まで", "だけ", "のみ", "ばかり", "など"}


@lru_cache(maxsize=4096)  # the FAQ's verdict asks it of the same turn's text several times
def asked_noun(text: str) -> str | None:
    """Return the thing a question asks about: its last noun, with the suffixes that make it one word (奨励金,
    会議所), as "金利" in 公庫の金利は何％？. Passed over are places, numbers and pronouns (何), nouns of an
    occasion, an amount or a count (場合, いくら, 件, ％), and a noun followed by で, に … (how, where:
    自分だけで申請できる？).

    None where that noun names no thing: an action asked for ("ご教示ください", "相談したい"); or where it cannot
    be told: of a single character (店), or not written in kanji.
    """
    tokens = _tokens(nfkc(text)[:2000])
    asked = None
    for i, m in enumerate(tokens):
        if (m.pos != "名詞" or m.detail in ("地名", "副詞可能", "助数詞可能") or m.kind in ("数詞", "代名詞")
                or m.surface.startswith("何")):  # 何人, 何時: one word to Sudachi, a question of a number
            continue
        end = i + 1
        while end < len(tokens) and tokens[end].pos == "接尾辞":
            end += 1
        if not (end < len(tokens) and tokens[end].surface in _ADVERBIAL_PARTICLES and tokens[end].pos == "助詞"):
            asked = (i, end)
    if asked is None:
        return None
    begin, end = asked
    if not ((end > begin + 1 and tokens[end - 1].kind == "名詞的") or tokens[begin].kind == "固有名詞"
            or tokens[begin].detail == "一般"):
        return None  # an action asked for (相談したい, 紹介して)
    word = "".join(t.surface for t in tokens[begin:end])
    # Written in kanji throughout, and not the end of a word begun in kana (がく金 of しょうがく金).
    kanji = all(has_kanji(t.surface) for t in tokens[begin:end]) and not (
        begin > 0 and _HIRAGANA.match(tokens[begin - 1].surface) and tokens[begin - 1].pos not in _DROP_POS)
    return word if kanji and len(word) >= 2 else None


def _compound_start(tokens: tuple[_Morpheme, ...], end: int) -> int:
    """Return where the nouns (with their prefixes and suffixes) that end before `end` begin: 商工|会, 信金|さん."""
    begin = end
    while begin > 0 and tokens[begin - 1].pos in ("名詞", "接尾辞", "接頭辞"):
        begin -= 1
    return begin


@lru_cache(maxsize=4096)
def contact_owner(text: str, contact_words: tuple[str, ...]) -> str | None:
    """Return whose contact a text asks, the nouns before its last の when what follows names a contact:
    "法務局" in 法務局の連絡先, "東邦銀行" in 東邦銀行の電話番号. Only an owner written in kanji or katakana, of two
    characters or more, and not a place (いわきの窓口)."""
    tokens = _tokens(nfkc(text)[:2000])
    of = max((i for i, t in enumerate(tokens) if t.surface == "の" and t.pos == "助詞"), default=None)
    if of is None or not any(word in surface_key("".join(t.surface for t in tokens[of + 1:]))
                             for word in word_keys(contact_words) if word):
        return None
    begin = _compound_start(tokens, of)
    owner = tokens[begin:of]
    word = "".join(t.surface for t in owner)
    if (len(word) < 2 or _HIRAGANA.search(word) or any(t.detail == "地名" or t.kind == "代名詞" for t in owner)
            or not all(t.pos != "名詞" or t.kind in ("普通名詞", "固有名詞") for t in owner)):
        return None
    return word


# The verbs that make に a compound particle (について, に関して, に対して, によって, にとって, に向けて, において).
_COMPOUND_PARTICLE_VERBS = {"つい", "付い", "関し", "関する", "対し", "対する", "よっ", "よる", "より", "とっ", "向け", "おい",
                            "於い", "際し", "つき", "基づい", "沿っ"}


def counterparts(text: str) -> tuple[str, ...]:
    """Return whom a text names to turn to: each noun followed by に or へ ("専門家に無料で相談したい": 専門家),
    with its suffixes. Not a time (来月に), a pronoun (誰かに), an action (相談に乗ってほしい), nor the start of
    について, に関して …."""
    tokens = _tokens(nfkc(text)[:2000])
    found = []
    for i, m in enumerate(tokens):
        if m.surface not in ("に", "へ") or m.pos != "助詞" or i == 0:
            continue
        if i + 1 < len(tokens) and tokens[i + 1].surface in _COMPOUND_PARTICLE_VERBS:
            continue
        begin = _compound_start(tokens, i)
        nouns = [t for t in tokens[begin:i] if t.pos == "名詞"]
        if nouns and nouns[-1].kind != "代名詞" and nouns[-1].detail not in ("副詞可能", "助数詞可能", "サ変可能"):
            found.append("".join(t.surface for t in tokens[begin:i]))
    return tuple(found)


def reading_key(text: str) -> str:
    """Return the reading of a text in katakana, without particles (when the text has kanji)."""
    return "".join(reading_tokens(text)[0])


# Sounds that never begin a syllable: small kana, ッ and ン end the one before them; ウ after an o or u
# sound and イ after an e sound lengthen it (コウ, シュウ, ケイ). A match that starts or ends at one of
# them cuts a syllable in two: コウジョ (控除) is not in シンコウジョウレイ (振興条例), nor ウヒョウ in トウヒョウ.
_ATTACHED_SOUNDS = set("ァィゥェォャュョッン")
_LENGTHENED_BY = {"ウ": set("オコソトノホモヨロゴゾドボポョォウクスツヌフムユルグズブプュゥヴ"),
                  "イ": set("エケセテネヘメレゲゼデベペェ")}


def cuts_syllable(reading: str, at: int) -> bool:
    """Tell whether a cut of a reading before position `at` falls inside a syllable."""
    if not 0 < at < len(reading):
        return False
    sound = reading[at]
    return sound in _ATTACHED_SOUNDS or reading[at - 1] in _LENGTHENED_BY.get(sound, ())


def has_syllables(reading: str, piece: str) -> bool:
    """Tell whether a piece of reading is in a reading with whole syllables: not cut from a longer one."""
    start = reading.find(piece)
    while start >= 0:
        if not cuts_syllable(reading, start) and not cuts_syllable(reading, start + len(piece)):
            return True
        start = reading.find(piece, start + 1)
    return False


def bigrams(key: str) -> set[str]:
    """Return the character bigrams of a key (a one-character key is its own gram)."""
    if len(key) < 2:
        return {key} if key else set()
    return {key[i : i + 2] for i in range(len(key) - 1)}


def word_keys(words: Iterable[str]) -> tuple[str, ...]:
    """Return the surface key of each word of one of the knowledge's word lists (cue words, menu labels …).

    Handlers compare every turn against the same lists: they are keyed once, by content, in a cache
    of their own, so users' new texts never push them out of the per-text caches. A reloaded
    knowledge with other words has other lists, and never meets the keys of the old ones.
    """
    return _word_keys(tuple(words))


@lru_cache(maxsize=2048)
def _word_keys(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(surface_key(w) for w in words)


def word_readings(words: Iterable[str]) -> tuple[str, ...]:
    """Return the reading of each word of one of the knowledge's word lists, cached like word_keys()."""
    return _word_readings(tuple(words))


@lru_cache(maxsize=2048)
def _word_readings(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(reading_key(w) for w in words)


def has_any(text: str, words: Iterable[str]) -> bool:
    """Tell whether the text contains any of the words, compared by surface key."""
    key = surface_key(text)
    return any(w and w in key for w in word_keys(words))
