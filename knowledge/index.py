"""Search over entries: a bigram index on readings as a prefilter, rapidfuzz to rank the few candidates.

Scanning every example question with WRatio costs ~20 ms a question at 10,000 entries. Here a
sparse entry × reading-bigram matrix picks a handful of candidates in one product, and only those
are scored string by string. Scores are in [0, 1].
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz import fuzz
from scipy import sparse

from knowledge.text import bigrams, loose_reading, reading_key, surface_key

CANDIDATES = 12
# Weights of the two parts of a score, tuned on tests/questions/: how much of the question the
# entry explains (coverage) against how close the question is to the single closest example.
COVERAGE_WEIGHT = 0.6
SIMILARITY_WEIGHT = 0.4


@dataclass(frozen=True)
class Document:
    """What the index knows of one entry: its id and the texts users might type for it."""

    entry_id: str
    keys: tuple[str, ...]  # title, keywords, example questions


@dataclass(frozen=True)
class Hit:
    """One candidate entry for a question, with its score and why."""

    entry_id: str
    score: float
    coverage: float
    similarity: float
    best_key: str


@dataclass
class Vocabulary:
    """Synonyms and noise phrases, applied to readings so kana and kanji input fold alike."""

    replacements: list[tuple[str, str]] = field(default_factory=list)  # (variant reading, canonical reading)
    noise: list[str] = field(default_factory=list)  # readings of phrases that carry no meaning

    @classmethod
    def build(cls, groups: Iterable[Sequence[str]], noise: Iterable[str]) -> "Vocabulary":
        """Read synonym groups (first word canonical) and noise phrases into reading rules."""
        replacements: dict[str, str] = {}
        for group in groups:
            canonical = reading_key(group[0])
            for variant in group[1:]:
                r = reading_key(variant)
                if len(r) >= 2 and r != canonical and r not in replacements:
                    replacements[r] = canonical
        ordered = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
        noise_readings = sorted({reading_key(n) for n in noise if len(reading_key(n)) >= 2}, key=len, reverse=True)
        return cls(ordered, noise_readings)

    def key(self, text: str) -> str:
        """Return the matching key of a text: its reading, synonyms folded, noise removed."""
        reading = reading_key(text)
        if not reading:
            return ""
        if self.replacements:
            reading = self._pattern().sub(lambda m: self._map()[m.group(0)], reading)
        for phrase in self.noise:
            if phrase in reading and len(reading) > len(phrase) + 1:
                reading = reading.replace(phrase, "")
        return loose_reading(reading)

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


class SearchIndex:
    """Find the entries closest to a question."""

    def __init__(self, documents: Sequence[Document], vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.entry_ids = [d.entry_id for d in documents]
        self._keys: list[list[tuple[str, str]]] = []  # per entry: (reading key, surface key)
        grams: dict[str, int] = {}
        rows, cols = [], []
        doc_freq: dict[int, int] = {}
        for row, doc in enumerate(documents):
            keys = []
            entry_grams: set[int] = set()
            for text in doc.keys:
                k = vocabulary.key(text)
                if not k:
                    continue
                keys.append((k, surface_key(text)))
                for g in bigrams(k):
                    entry_grams.add(grams.setdefault(g, len(grams)))
            self._keys.append(keys)
            for col in entry_grams:
                rows.append(row)
                cols.append(col)
                doc_freq[col] = doc_freq.get(col, 0) + 1
        self._grams = grams
        n = max(len(documents), 1)
        self._idf = np.ones(len(grams) or 1, dtype=np.float32)
        for col, df in doc_freq.items():
            self._idf[col] = math.log((n + 1) / (df + 0.5)) + 1.0
        # A gram no entry has is content the knowledge does not cover: weigh it like the rarest.
        self._unknown_idf = math.log(n + 1) + 2.0
        data = np.ones(len(rows), dtype=np.float32)
        self._matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(documents), max(len(grams), 1)))

    def __len__(self) -> int:
        return len(self.entry_ids)

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """Return the best entries for a question, best first (at most one hit per entry)."""
        query = self.vocabulary.key(question)
        if not query:
            return []
        q_grams = bigrams(query)
        cols, weights, unknown = [], [], 0.0
        for g in q_grams:
            col = self._grams.get(g)
            if col is None:
                unknown += self._unknown_idf
            else:
                cols.append(col)
                weights.append(self._idf[col])
        total = float(sum(weights)) + unknown
        if not cols or total <= 0:
            return []
        vec = sparse.csr_matrix(
            (np.asarray(weights, dtype=np.float32), (np.asarray(cols), np.zeros(len(cols), dtype=np.int64))),
            shape=(self._matrix.shape[1], 1),
        )
        matched = np.asarray((self._matrix @ vec).todense()).ravel()
        if len(matched) > CANDIDATES:
            candidates = np.argpartition(-matched, CANDIDATES)[:CANDIDATES]
        else:
            candidates = np.arange(len(matched))
        q_surface = surface_key(question)
        hits = []
        for row in candidates:
            if matched[row] <= 0:
                continue
            coverage = float(matched[row]) / total
            similarity, best = self._similarity(query, q_surface, self._keys[row])
            score = COVERAGE_WEIGHT * coverage + SIMILARITY_WEIGHT * similarity
            hits.append(Hit(self.entry_ids[row], score, coverage, similarity, best))
        hits.sort(key=lambda h: -h.score)
        return hits[:limit]

    @staticmethod
    def _similarity(query: str, q_surface: str, keys: list[tuple[str, str]]) -> tuple[float, str]:
        """Score the closest key: whole-string likeness, or a key found inside the question."""
        best, best_key = 0.0, ""
        for reading, surface in keys:
            score = fuzz.ratio(query, reading)
            if len(reading) >= 3 and len(query) >= len(reading):
                # A keyword that appears (nearly) whole in the question is strong evidence,
                # scaled by how much of the question it accounts for.
                contained = fuzz.partial_ratio(reading, query)
                score = max(score, contained * (0.6 + 0.4 * len(reading) / len(query)))
            if surface and len(surface) >= 2 and surface in q_surface:
                score = max(score, 100 * (0.6 + 0.4 * len(surface) / max(len(q_surface), 1)))
            if score > best:
                best, best_key = score, reading
        return best / 100.0, best_key
