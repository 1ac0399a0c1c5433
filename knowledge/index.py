"""Search over entries: a bigram index on readings as a prefilter, rapidfuzz to rank the few candidates.

Scanning every example question with WRatio costs ~20 ms a question at 10,000 entries. Here an
inverted index of reading bigrams picks a handful of candidates in one weighted count, and only
those are scored string by string. Scores are in [0, 1].
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.text import (bigrams, cuts_syllable, has_kanji, has_syllables, kana_reading, latin_words, nfkc,
                            reading_key, reading_tokens, spoken_reading, surface_key, to_hiragana, to_katakana,
                            trim_phrases, without_latin_words)

T = TypeVar("T")

CANDIDATES = 12
SEPARATOR = "|"  # a word boundary inside a key
RANKING_CACHE = 2048  # questions whose ranking, and whose words, are kept (dicts; emptied when full)
# rapidfuzz compares one-byte strings several times faster than wider ones, and its scores depend only
# on which characters are equal: readings are scored with the katakana block and Latin-1's upper half
# swapped, which changes no score. The swap is its own inverse.
_ONE_BYTE = {**{c: c - 0x30A0 + 0x80 for c in range(0x30A0, 0x3100)},
             **{c: c - 0x80 + 0x30A0 for c in range(0x80, 0xE0)}}
# Weights of the two parts of a score, tuned on tests/questions/: how much of the question the
# entry explains (coverage) against how close the question is to the single closest example.
COVERAGE_WEIGHT = 0.5
SIMILARITY_WEIGHT = 0.5
# A synonym variant of this many characters or fewer is folded only as a whole word (see _fold_synonyms).
SHORT_VARIANT = 3
# What a word of a question counts in an entry's coverage when it is only one of the entry's told words
# (its answer's and its facts' cues: 財源, 元手), and only a word told by this many entries at most.
TOLD_WORD_CREDIT = 0.5
MAX_TOLD_WORD_ENTRIES = 2
KNOWN_RUN = 3  # words of a key in a row that a question may read as one (ショウレイ|キン: 奨励金), for knows()
# A word typed in hiragana amid kanji is written in katakana from this many characters (_kana_words_in_katakana).
MIN_KANA_WORD = 3
_HIRAGANA_RUN = re.compile(r"[\u3041-\u3096ー]+")


@dataclass(frozen=True)
class Document:
    """What the index knows of one entry: its id and the texts users might type for it."""

    entry_id: str
    keys: tuple[str, ...]  # title, keywords, example questions
    # Words a question may ask the entry by that are no key of it (its answer's, its facts' cues: 財源, 元手): known
    # words of a question typed in kana (ソノホジョキンノザイゲンハ: ソノ|ホジョキン|ノ|ザイゲン|ハ), and worth
    # TOLD_WORD_CREDIT in the entry's coverage.
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One candidate entry for a question, with its score and why."""

    entry_id: str
    score: float
    coverage: float
    similarity: float
    best_key: str


@dataclass(frozen=True)
class KeyTrace:
    """How a text became its matching key, for an admin asking why the bot answered what it did."""

    dropped: tuple[str, ...]  # the noise phrases left out at its start or end ("について教えて")
    reading: str  # the reading of what was left
    synonyms: tuple[tuple[str, str], ...]  # (variant reading, canonical reading) rules that applied
    key: str  # the matching key (words separated by SEPARATOR)


def _reading_and_cuts(text: str) -> tuple[str, set[int], bool]:
    """Return a text's reading, the positions of its word boundaries (a trusted split only), and whether it is trusted."""
    tokens, trusted = reading_tokens(text)
    cuts = set(itertools.accumulate(len(t) for t in tokens[:-1])) if trusted else set()
    return "".join(tokens), cuts, trusted


@dataclass
class Vocabulary:
    """Synonyms and noise phrases, applied to readings so kana and kanji input fold alike."""

    replacements: list[tuple[str, str]] = field(default_factory=list)  # (variant reading, canonical reading)
    noise: list[str] = field(default_factory=list)  # phrases that carry no meaning, as typed and sounded (hiragana)
    latin_words: frozenset[str] = frozenset()  # the words in Latin letters of the groups (seminar, startup …)
    canonical_words: list[str] = field(default_factory=list)  # the groups' canonical readings, longest first

    @classmethod
    def build(cls, groups: Iterable[Sequence[str]], noise: Iterable[str]) -> "Vocabulary":
        """Read synonym groups (first word canonical) and noise phrases into reading rules."""
        groups = [list(group) for group in groups]
        replacements: dict[str, str] = {}
        for group in groups:
            canonical = reading_key(group[0])
            for variant in group[1:]:
                # A variant of several words is read without its particles, as a question with kanji
                # is (市の工事: シコウジ), and with them, as one typed in kana sounds (しのこうじ: シノコウジ).
                # Only kana amid kanji can be a particle dropped.
                readings = [reading_key(variant)]
                if has_kanji(variant) and _HIRAGANA_RUN.search(variant):
                    readings.append(spoken_reading(variant))
                for r in dict.fromkeys(readings):
                    if len(r) >= 2 and r != canonical and r not in replacements:
                        replacements[r] = canonical
            if any(variant in canonical for variant, to in replacements.items() if to == canonical):
                # The canonical word is matched as itself first (longest first), or a variant inside
                # it would fold it again: 商談会 → ショウダン|カイ → ショウダンカイカイ.
                replacements.setdefault(canonical, canonical)
        ordered = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
        # A phrase as written (教えて) and as typed in kana (おしえて). Not by its reading: without its
        # particles 聞きたいんですけど reads キキン, as 基金 does.
        noise_forms = sorted({form for phrase in noise for form in (surface_key(phrase), to_hiragana(spoken_reading(phrase)))
                              if len(form) >= 2}, key=len, reverse=True)
        canonical_words = sorted({c for c in (reading_key(group[0]) for group in groups) if len(c) >= 2},
                                 key=len, reverse=True)
        return cls(ordered, noise_forms, frozenset(latin_words(" ".join(w for g in groups for w in g))),
                   canonical_words)

    def key(self, text: str) -> str:
        """Return the matching key of a text: noise left out, its reading, synonyms folded.

        Word boundaries of a trusted split are kept as SEPARATOR, so a question is matched word by
        word and キョウ|テンキ (今日の天気) does not pass for ジギョウテンカン (事業転換).
        """
        text, _ = self._without_noise(text)
        reading, cuts, trusted = _reading_and_cuts(text)
        if not reading:
            return ""
        if self.replacements:
            reading, cuts, _ = self._fold_synonyms(reading, cuts, trusted)
        pieces, last = [], 0
        for cut in sorted(c for c in cuts if 0 < c < len(reading)):
            pieces.append(reading[last:cut])
            last = cut
        pieces.append(reading[last:])
        return SEPARATOR.join(p for p in pieces if p)

    def _without_noise(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Leave out noise phrases at either end ("…について教えて", "すみません…"); return what is left and them."""
        return trim_phrases(text, self.noise)

    def _fold_synonyms(self, reading: str, cuts: set[int], trusted: bool) -> tuple[str, set[int], list[tuple[str, str]]]:
        """Replace variants by their canonical reading; boundaries inside a replaced variant go.

        A short variant (公庫, コウコ) is replaced only as a whole word: inside a longer one it is
        another word's sounds (高校, コウコウ; 広告, コウコク). In a trusted split that is a word
        between two boundaries; a run typed in kana has none yet, and the index folds its words
        once it has split it (fold_word). Also returns the (variant, canonical) rules applied.
        """
        if trusted:
            cuts = self._join_canonical_words(reading, cuts)
        out: list[str] = []
        new_cuts: set[int] = set()
        applied: list[tuple[str, str]] = []
        source = target = 0
        bounds = cuts | {0, len(reading)}
        for m in self._pattern().finditer(reading):
            if len(m.group(0)) <= SHORT_VARIANT and not (trusted and m.start() in bounds and m.end() in bounds):
                continue
            if (trusted and not (m.start() in bounds and m.end() in bounds)
                    and any(m.start() < cut < m.end() for cut in cuts)):
                continue  # across words, begun or ended inside one: 会議|初回 (カイギ|ショカイ) holds no 会議所
            out.append(reading[source:m.start()])
            new_cuts.update(c - source + target for c in cuts if source < c <= m.start())
            target += m.start() - source
            canonical = self._map()[m.group(0)]
            if canonical != m.group(0):
                applied.append((m.group(0), canonical))
            out.append(canonical)
            target += len(canonical)
            source = m.end()
            if source in cuts:
                new_cuts.add(target)
        out.append(reading[source:])
        new_cuts.update(c - source + target for c in cuts if c > source)
        return "".join(out), new_cuts, applied

    def _join_canonical_words(self, reading: str, cuts: set[int]) -> set[int]:
        """Drop the boundaries inside a canonical word typed as itself, so it is one word as its variants fold to.

        補助金 splits into ホジョ|キン, while 助成金 folds to one word ホジョキン: split, its parts would be
        matched on their own (キン of 奨学金). Only words a trusted split starts and ends where the
        canonical does: in a run of kana (イワキシンクミ) a canonical's sounds (いわき市, イワキシ) may
        be the start of another word.
        """
        bounds = cuts | {0, len(reading)}
        for word in self.canonical_words:
            start = reading.find(word)
            while start >= 0:
                end = start + len(word)
                if start in bounds and end in bounds:
                    cuts = {c for c in cuts if not start < c < end}
                start = reading.find(word, start + 1)
        return cuts

    def fold_word(self, word: str) -> str:
        """Return a whole word's canonical reading if it is a short variant (as a trusted split's word is folded)."""
        return self._map().get(word, word) if len(word) <= SHORT_VARIANT else word

    def short_variants(self) -> set[str]:
        """Return the readings of the short variants, which fold only as whole words."""
        return {variant for variant, _ in self.replacements if len(variant) <= SHORT_VARIANT}

    def trace(self, text: str) -> "KeyTrace":
        """Return how a text becomes its key: noise left out, reading, synonym rules applied, key (for `sme-bot kb explain`)."""
        kept, dropped = self._without_noise(text)
        reading, cuts, trusted = _reading_and_cuts(kept)  # what key() starts from
        synonyms: list[tuple[str, str]] = []
        if reading and self.replacements:
            _, _, synonyms = self._fold_synonyms(reading, cuts, trusted)
        return KeyTrace(dropped, reading, tuple(synonyms), self.key(text))

    def _map(self) -> dict[str, str]:
        cached = self.__dict__.get("_map_cache")
        if cached is None:
            cached = dict(self.replacements)
            self.__dict__["_map_cache"] = cached
        return cached

    def _pattern(self) -> "re.Pattern[str]":
        cached = self.__dict__.get("_pattern_cache")
        if cached is None:
            cached = re.compile("|".join(re.escape(v) for v, _ in self.replacements))
            self.__dict__["_pattern_cache"] = cached
        return cached


@dataclass(frozen=True)
class _Piece:
    """A piece of a long word: its characters from `start`, widened to whole syllables."""

    start: int
    text: str


@dataclass(frozen=True)
class _Segment:
    """One word of a question's key with the weight of each character, ready to look up in every candidate."""

    text: str
    weights: tuple[float, ...]
    weight: float  # their sum
    threes: tuple[_Piece, ...]  # a long word's pieces of three characters, from each position (distinct)
    fours: tuple[_Piece, ...]  # and of four

    @classmethod
    def of(cls, text: str, weights: list[float]) -> "_Segment":
        """Prepare a word: its total weight and, when longer than four characters, its pieces."""
        threes: tuple[_Piece, ...] = ()
        fours: tuple[_Piece, ...] = ()
        if len(text) > 4:
            threes, fours = _pieces(text, 3), _pieces(text, 4)
        return cls(text, tuple(weights), sum(weights), threes, fours)


def _pieces(text: str, size: int) -> tuple[_Piece, ...]:
    """Return a word's pieces of `size` characters, each widened to the syllables it cuts.

    ウヒョウ of トウヒョウ (投票) is looked for as トウヒョウ: found alone it would be フウヒョウ's (風評),
    a word that differs in the one sound the piece cut off. ウギョウ of ショウキボソウギョウ is looked
    for as ソウギョウ, which the entry has.
    """
    pieces: dict[tuple[int, int], None] = {}
    for start in range(len(text) - size + 1):
        begin, end = start, start + size
        while cuts_syllable(text, begin):
            begin -= 1
        while cuts_syllable(text, end):
            end += 1
        pieces[(begin, end)] = None
    return tuple(_Piece(begin, text[begin:end]) for begin, end in pieces)


def _kept(cache: dict[str, T], text: str, compute: Callable[[str], T]) -> T:
    """Return what `compute` makes of a text, kept in `cache` (at most RANKING_CACHE texts; emptied when full)."""
    kept = cache.get(text)
    if kept is None:
        kept = compute(text)
        if len(cache) >= RANKING_CACHE:
            cache.clear()
        cache[text] = kept
    return kept


class SearchIndex:
    """Find the entries closest to a question."""

    def __init__(self, documents: Sequence[Document], vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self._ranking_cache: dict[str, tuple[Hit, ...]] = {}
        self._words_cache: dict[str, tuple[str, ...]] = {}
        self._knows_cache: dict[str, bool] = {}
        self.entry_ids = [d.entry_id for d in documents]
        entry_keys: list[list[tuple[str, str]]] = []  # per entry: (reading key, surface key)
        grams: dict[str, int] = {}
        rows, cols = [], []
        doc_freq: dict[int, int] = {}
        self._words: list[str] = []  # per entry: every key with its word boundaries, "|ホジョキン|ジョウゲン|…|"
        told_words: list[set[str]] = []  # per entry: the words of its answer and its facts' cues
        # Words in Latin letters the knowledge knows (IT, HP, TATAKIAGE …); any other in a question is left out.
        self._latin_words = vocabulary.latin_words | {w for doc in documents for w in latin_words(" ".join(doc.keys))}
        for row, doc in enumerate(documents):
            keys = []
            words = []
            entry_grams: set[int] = set()
            for text in doc.keys:
                segmented = vocabulary.key(text)
                k = segmented.replace(SEPARATOR, "")
                if not k:
                    continue
                keys.append((k, surface_key(text)))
                words.append(segmented)
                for g in bigrams(k):
                    entry_grams.add(grams.setdefault(g, len(grams)))
            entry_keys.append(keys)
            self._words.append(SEPARATOR + SEPARATOR.join(words) + SEPARATOR)
            told_words.append({w for text in doc.words for w in vocabulary.key(text).split(SEPARATOR) if w})
            for col in entry_grams:
                rows.append(row)
                cols.append(col)
                doc_freq[col] = doc_freq.get(col, 0) + 1
        self._grams = grams
        # Per entry: its told words that few entries have ("|ザイゲン|モトデ|"); a word of many
        # (いつ, 電話) says nothing of which entry is asked.
        told_df: dict[str, int] = {}
        for told in told_words:
            for w in told:
                told_df[w] = told_df.get(w, 0) + 1
        self._told_words = [SEPARATOR + SEPARATOR.join(w for w in sorted(told) if told_df[w] <= MAX_TOLD_WORD_ENTRIES)
                            + SEPARATOR for told in told_words]
        # Every word of the knowledge's keys: what a question typed in kana alone is split into.
        self._known_words = {w for joined in self._words for w in joined.split(SEPARATOR) if len(w) >= 2}
        self._known_words |= vocabulary.short_variants()  # folded once a kana run is split (_words_of)
        # The keys' words as Sudachi read them too: a canonical synonym is one word of a key (ヒトデフソク),
        # typed in kana its parts are words still (ひとで ぶそく).
        # (Of three sounds or more: a two-sound one, コウ, コノ, would outdo the words that are, コウコ|ノ.)
        self._known_words |= {w for doc in documents for text in doc.keys for w in reading_tokens(text)[0] if len(w) >= 3}
        # What a run of hiragana amid kanji is looked for: the words, and the synonyms' variants as typed.
        self._kana_words = self._known_words | {variant for variant, _ in vocabulary.replacements}
        # A question typed in kana alone is split by the told words too (not a run of hiragana amid kanji:
        # there a cue in kana, いくら, would be read as a word of its own where it is part of one), those
        # of no known word: いつから (イツ|カラ) stays two words, as the keys have them.
        told_anywhere = {w for told in told_words for w in told if len(w) >= 2}
        # What the entries have in their keys or tell: as written, and as read, word by word or in runs of up
        # to KNOWN_RUN words (an IME's homophone, 変換 for 返還, is found by its sound as a word of its own).
        self._every_surface = "\n".join(surface_key(text) for doc in documents for text in (*doc.keys, *doc.words))
        self._every_reading = told_anywhere | {
            "".join(parts[i:j]) for joined in self._words for parts in [joined.split(SEPARATOR)]
            for i in range(len(parts)) for j in range(i + 1, min(i + KNOWN_RUN, len(parts)) + 1)}
        self._known_words |= {w for w in told_anywhere if not any(w[i:j] in self._known_words
                                                         for i in range(len(w)) for j in range(i + 2, len(w) + 1)
                                                         if j - i < len(w))}
        self._longest_word = max(map(len, self._kana_words | self._known_words), default=0)
        # Every key of an entry in one string, so "is this trigram in the entry" is one `in`.
        self._joined = ["|".join(k for k, _ in keys) for keys in entry_keys]
        trigram_df: dict[str, int] = {}
        for joined in self._joined:
            for t in {joined[i:i + 3] for i in range(len(joined) - 2)}:
                if "|" not in t:
                    trigram_df[t] = trigram_df.get(t, 0) + 1
        n = max(len(documents), 1)
        idf_of_df = {df: math.log((n + 1) / (df + 0.5)) + 1.0 for df in set(trigram_df.values())}  # shared floats
        self._trigram_idf = {t: idf_of_df[df] for t, df in trigram_df.items()}
        idf = np.ones(len(grams) or 1, dtype=np.float32)
        for col, df in doc_freq.items():
            idf[col] = math.log((n + 1) / (df + 0.5)) + 1.0
        self._idf = idf.tolist()  # float32 weights, as Python floats: quicker to take one by one
        # A gram no entry has is content the knowledge does not cover: weigh it like the rarest.
        self._unknown_idf = math.log(n + 1) + 2.0
        # Postings: for each gram, the entries that have it. Summing the weights of a question's
        # grams per entry is then one bincount over the concatenated postings.
        order = np.lexsort((np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)))
        sorted_rows = np.asarray(rows, dtype=np.int32)[order]
        bounds = np.searchsorted(np.asarray(cols, dtype=np.int64)[order], np.arange(len(grams) + 1))
        self._postings = [sorted_rows[bounds[g]:bounds[g + 1]] for g in range(len(grams))]
        # Surface keys longest first: the longest found inside a question is the one that counts.
        self._surfaces = [sorted({sk for _, sk in keys if len(sk) >= 2}, key=len, reverse=True) for keys in entry_keys]
        # Each distinct reading once (a title and a question often read alike), as rapidfuzz scores them.
        self._readings = [list(dict.fromkeys(k.translate(_ONE_BYTE) for k, _ in keys)) for keys in entry_keys]
        self._reading_lengths = [np.asarray([len(k) for k in r], dtype=np.float32) for r in self._readings]

    def __len__(self) -> int:
        return len(self.entry_ids)

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """Return the best entries for a question, best first (at most one hit per entry)."""
        return list(self._ranked(question)[:limit])

    def _ranked(self, question: str) -> tuple[Hit, ...]:
        """Rank every candidate for a question once; several handlers ask about the same turn's text."""
        return _kept(self._ranking_cache, question, self.rank)

    def forget_rankings(self) -> None:
        """Empty the rankings and words kept per text (a benchmark times what a new question costs)."""
        self._ranking_cache.clear()
        self._words_cache.clear()
        self._knows_cache.clear()

    def rank(self, question: str) -> tuple[Hit, ...]:
        """Rank every candidate entry for a question, best first, without the cache of rankings."""
        words = self.words(question)
        question = self._without_unknown_latin(question)
        query = "".join(words)
        if not query:
            return ()
        cols = [col for col in map(self._grams.get, bigrams(query)) if col is not None]
        if not cols:  # no bigram of the question is in the knowledge
            return ()
        weights = [self._idf[col] for col in cols]
        postings = [self._postings[c] for c in cols]
        matched = np.bincount(
            np.concatenate(postings),
            weights=np.repeat(np.asarray(weights, dtype=np.float64), [len(p) for p in postings]),
            minlength=len(self.entry_ids),
        )
        if len(matched) > CANDIDATES:
            candidates = np.argpartition(-matched, CANDIDATES)[:CANDIDATES]
        else:
            candidates = np.arange(len(matched))
        q_surface = surface_key(question)
        segments = [_Segment.of(word, self._position_weights(word)) for word in words if word]
        rows = candidates[matched[candidates] > 0].tolist()
        coverages = self._coverages(segments, rows)
        similarities = self._similarities(query, q_surface, rows)
        hits = []
        for row, coverage, (similarity, best) in zip(rows, coverages, similarities):
            score = COVERAGE_WEIGHT * coverage + SIMILARITY_WEIGHT * similarity
            hits.append(Hit(self.entry_ids[row], score, coverage, similarity, best))
        hits.sort(key=lambda h: -h.score)
        return tuple(hits)

    def words(self, question: str) -> list[str]:
        """Return the words a question is matched by (`sme-bot kb explain` shows them); a turn asks several times."""
        words: tuple[str, ...] = _kept(self._words_cache, question, self._words_uncached)
        return list(words)

    def _words_uncached(self, question: str) -> tuple[str, ...]:
        return tuple(self._question_words(self._without_unknown_latin(question)))

    def mentions(self, text: str) -> bool:
        """Tell whether some entry's keys have the text, as a word of its own (東京, パラオ)."""
        word = SEPARATOR + self.vocabulary.key(text) + SEPARATOR
        return any(word in words for words in self._words)

    def knows(self, word: str) -> bool:
        """Tell whether some entry has the word in its keys or in what it tells: as written (拠点 of よろず支援拠点),
        or as read, synonyms folded, a word or a few of them (変換, read as 返還), or each of its parts (主催|者)."""
        return _kept(self._knows_cache, word, self._knows_uncached)

    def _knows_uncached(self, word: str) -> bool:
        parts = [part for part in self.vocabulary.key(word).split(SEPARATOR) if part]
        return surface_key(word) in self._every_surface or (
            bool(parts) and ("".join(parts) in self._every_reading or all(p in self._every_reading for p in parts)))

    def _question_words(self, question: str) -> list[str]:
        question = self._kana_words_in_katakana(question)
        return self._words_of(question, self.vocabulary.key(question))

    def _without_unknown_latin(self, question: str) -> str:
        """Leave out the words in Latin letters the knowledge does not know ("浜魂 主催 who?", "補助金 ok?").

        Read letter by letter (who: ダブリュエイチオー), such a word is a long run of sounds no entry has,
        which drags every entry's score down; a known one (IT, SNS) stays.
        """
        return without_latin_words(question, self._latin_words)

    def _kana_words_in_katakana(self, question: str) -> str:
        """Write in katakana the knowledge's words typed in hiragana amid kanji ("ほじょきんの上限" → "ホジョキンの上限").

        With kanji around, Sudachi splits a question into words and tags particles, and a word typed
        in hiragana is split and tagged like any kana (ほ|じょ|きん, じょ a particle). In katakana it
        stays one word, as Sudachi keeps an unknown katakana word whole.
        """
        text = nfkc(question)
        if not has_kanji(text):
            return question  # kana only: the index splits it itself (_words_of)
        out, last = [], 0
        for run in _HIRAGANA_RUN.finditer(text):
            folded, origin = [], []  # the run's reading as the keys are (no ー), and where each character came from
            for i, c in enumerate(run.group(0)):
                if c != "ー":
                    folded.append(kana_reading(c))
                    origin.append(run.start() + i)
            reading = "".join(folded)
            if len(reading) < MIN_KANA_WORD:
                continue
            at = 0
            for piece in self._split_kana(reading, self._kana_words):
                if len(piece) >= MIN_KANA_WORD and piece in self._kana_words:
                    start, end = origin[at], origin[at + len(piece) - 1] + 1
                    out.append(text[last:start])
                    out.append(f" {to_katakana(text[start:end])} ")  # spaced: two katakana words would be read as one
                    last = end
                at += len(piece)
        if not out:
            return question
        out.append(text[last:])
        return "".join(out)

    def _words_of(self, question: str, key: str) -> list[str]:
        words = key.split(SEPARATOR)
        if reading_tokens(question)[1]:
            return words
        # Typed in kana only: the key came with no word boundaries, and its short synonyms unfolded.
        return [self.vocabulary.fold_word(word) for piece in words for word in self._split_kana(piece)]

    def _split_kana(self, text: str, known: set[str] | None = None) -> list[str]:
        """Split a run of kana into the knowledge's own words and what lies between them (シンサカイ|ハ|イツ).

        Of all splits, the one whose known words cover the most characters, in the fewest pieces.
        """
        known = self._known_words if known is None else known
        if len(text) <= 4 or text in known:
            return [text]
        # best[i]: (characters covered, -pieces, where the last piece starts, whether it is a word) for text[:i]
        best: list[tuple[int, int, int, bool]] = [(0, 0, 0, False)] + [(-1, 0, 0, False)] * len(text)
        for i in range(len(text)):
            covered, pieces, _, word = best[i]
            # One character not in a word: a new piece unless it extends the characters before it.
            step = (covered, pieces - (1 if word or i == 0 else 0), i, False)
            if step[:2] > best[i + 1][:2]:
                best[i + 1] = step
            for j in range(i + 2, min(len(text), i + self._longest_word) + 1):
                if text[i:j] in known:
                    step = (covered + j - i, pieces - 1, i, True)
                    if step[:2] > best[j][:2]:
                        best[j] = step
        if best[-1][0] == 0:
            return [text]
        out, end = [], len(text)
        while end > 0:
            covered, pieces, start, word = best[end]
            if not word:  # walk back over the characters of a non-word piece
                while start > 0 and not best[start][3] and best[start][0] == covered:
                    start = best[start][2]
            out.append(text[start:end])
            end = start
        return out[::-1]

    def _position_weights(self, segment: str) -> list[float]:
        """Weigh each character of a word by how rare the knowledge's trigrams around it are."""
        if len(segment) == 1:
            return [0.5]  # one kana (日, 市) says almost nothing on its own
        if len(segment) == 2:
            col = self._grams.get(segment)
            return [self._idf[col] if col is not None else self._unknown_idf] * 2
        # A character weighs as much as the rarest of the (up to three) trigrams it is part of.
        idfs = [self._trigram_idf.get(segment[start:start + 3], self._unknown_idf) for start in range(len(segment) - 2)]
        return [max(idfs[max(0, i - 2):i + 1]) for i in range(len(segment))]

    def _coverages(self, segments: list[_Segment], rows: list[int]) -> list[float]:
        """Return, for each candidate, the weighted share of the question's characters its keys contain.

        A short word counts only when found whole, and a two-character one (ゴミ, イツ) only at a word
        boundary of the entry: fully as a word of its own, half as one end of a longer word (パン of
        パンフレット, of ジャパン: "パン屋を開業したい"); one of three or four found only across two of the entry's words
        counts half (ホイク, 保育, in カクホ|イクセイ, 確保・育成). In a long word, characters found
        four in a row count fully and three in a row half: three can be two word ends met by chance.
        """
        total = 0.0
        for segment in segments:
            total += segment.weight
        joined = [self._joined[row] for row in rows]
        words = [self._words[row] for row in rows]
        told = [self._told_words[row] for row in rows]
        found = [0.0] * len(rows)
        for segment in segments:  # what each candidate contains is added up word by word, in order
            text, weight = segment.text, segment.weight
            if len(text) <= 2:
                left, right, alone = SEPARATOR + text, text + SEPARATOR, SEPARATOR + text + SEPARATOR
                credits = [weight if alone in w else 0.5 * weight if left in w or right in w else 0.0 for w in words]
            elif len(text) <= 4:
                credits = [weight if text in w and has_syllables(w, text)
                           else 0.5 * weight if text in j and has_syllables(j, text) else 0.0
                           for j, w in zip(joined, words)]
            else:
                credits = [self._long_word_credit(segment, w) for w in words]
            # A word that is only one of the entry's told words (財源, 元手) counts TOLD_WORD_CREDIT: users ask
            # by those words, but a cue such as 申請方法 is every procedure's ("パスポートの申請方法").
            whole = SEPARATOR + text + SEPARATOR
            found = [f + max(credit, TOLD_WORD_CREDIT * weight if whole in t else 0.0)
                     for f, credit, t in zip(found, credits, told)]
        return [f / total if total else 0.0 for f in found]

    @staticmethod
    def _long_word_credit(segment: "_Segment", entry_words: str) -> float:
        """Return what of a long word an entry's words hold: all of it, or its pieces of four (fully) and three (half)."""
        if segment.text in entry_words:  # every piece is there: full credit
            return segment.weight
        credit = [0.0] * len(segment.text)
        found = False
        for pieces, share in ((segment.threes, 0.5), (segment.fours, 1.0)):
            for piece in pieces:
                if piece.text in entry_words and has_syllables(entry_words, piece.text):
                    end = piece.start + len(piece.text)
                    credit[piece.start:end] = [max(c, share) for c in credit[piece.start:end]]
                    found = True
        if not found:
            return 0.0
        return sum([w * c for w, c in zip(segment.weights, credit)])

    def _similarities(self, query: str, q_surface: str, rows: list[int]) -> list[tuple[float, str]]:
        """Score each candidate's closest key: whole-string likeness, or a key found inside the question.

        A key found (nearly) whole in the question counts for the share of the question it explains.
        All candidates' keys are scored in one rapidfuzz call per scorer; the costly partial match
        is only run on keys whose share could reach their entry's best whole-string likeness.
        """
        readings = [r for row in rows for r in self._readings[row]]
        if not readings:
            return [(0.0, "")] * len(rows)
        query = query.translate(_ONE_BYTE)
        lengths = np.concatenate([self._reading_lengths[row] for row in rows])
        whole = process.cdist([query], readings, scorer=fuzz.ratio, dtype=np.float32)[0]
        counts = [len(self._readings[row]) for row in rows]
        filled = [c for c in counts if c]
        offsets = np.cumsum([0, *filled[:-1]])
        entry_best = np.repeat(np.maximum.reduceat(whole, offsets), filled)
        # Only keys of three or more characters, shorter than the question, can explain part of it,
        # and at most their share of it (a partial match scores 100 at best).
        usable = (lengths >= 3) & (lengths < len(query))
        ceiling = np.full_like(whole, 100.0) * lengths / len(query)
        scored = np.flatnonzero(usable & (ceiling >= entry_best))
        explained = np.zeros_like(whole)
        if len(scored):
            inside = process.cdist([query], [readings[i] for i in scored], scorer=fuzz.partial_ratio,
                                   dtype=np.float32)[0]
            explained[scored] = inside * lengths[scored] / len(query)
        scores = np.maximum(whole, explained).tolist()
        results = []
        start = 0
        for row, count in zip(rows, counts):
            if not count:
                results.append((0.0, ""))
                continue
            own = scores[start:start + count]
            best = max(own)
            best_index = start + own.index(best)  # the first of the entry's keys with its best score
            found = self._longest_surface_in(row, q_surface)
            if found:
                best = max(best, 100.0 * found / max(len(q_surface), 1))
            results.append((best / 100.0, readings[best_index].translate(_ONE_BYTE)))
            start += count
        return results

    def _longest_surface_in(self, row: int, q_surface: str) -> int:
        """Return the length of the entry's longest surface key found in the question's (0 if none)."""
        for surface in self._surfaces[row]:  # longest first
            if surface in q_surface:
                return len(surface)
        return 0
