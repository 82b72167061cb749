"""Near-duplicate rules: shingles, MinHash signatures, LSH band keys and verification.

MinHash is datasketch's (``affine32`` scheme pinned, so band keys stored in the
seen-index stay comparable across versions): datasketch draws the permutations, numpy
applies them (the tests check the keys against datasketch's own MinHash). LSH only
proposes candidates; every candidate pair is verified on the exact shingle sets before
anything merges.

Defaults (:class:`NearConfig`) and why, measured on the evaluation set in
``tests/fixtures/dedup_eval/`` (``benchmarks/eval_dedup.py``):

- 3-word shingles over case-folded words, punctuation and in-word hyphens removed:
  copy-edits change a word every sentence or two, and each changed word breaks k
  shingles; with 5-word shingles copy-edited wire copies fell to Jaccard 0.4-0.6 and
  recall to 0.79, with 3 they stay above the threshold while different stories on one
  topic stay far below it.
- 120 permutations in 40 bands of 3 rows: a pair with Jaccard 0.5 becomes a candidate
  with probability 0.995, 0.3 with 0.67, 0.1 with 0.04. Candidates are cheap to verify;
  a missed candidate is a missed duplicate.
- Verified as duplicates when Jaccard >= 0.6, or when containment (shared shingles over
  the smaller text's) >= 0.7 and the smaller text is at least half the larger or starts
  like it (60% of the shingles of its first 30 words appear in the larger, leaving room
  for a copy-edit in the lead): a copy cut after its first paragraphs is the same story;
  background paragraphs reused in a follow-up under a new lead are not.
- The figures (numbers other than years) of one text must all appear in the other:
  copies keep the figures (a trimmed copy loses some), while template stories
  (earnings, results, releases) each state figures the other lacks. On the evaluation
  set this check is a second line of defence: precision is 1.0 without it too.
- Texts under 40 words never merge on text alone (headline-only entries, summaries).
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

import numpy as np

from pipelines.core.records import stable_hash
from pipelines.core.text import fingerprint_words

_NUMBER_RE = re.compile(r"\d[\d,.]*\d|\d")
_YEAR_RE = re.compile(r"(19|20)\d\d")
LEAD_WORDS = 30


@dataclass(frozen=True)
class NearConfig:
    shingle_words: int = 3
    num_perm: int = 120
    bands: int = 40
    jaccard: float = 0.6
    containment: float = 0.7
    min_size_ratio: float = 0.5
    lead_containment: float = 0.6
    min_words: int = 40
    max_bucket: int = 200  # a band bucket larger than this is boilerplate, not a story: skipped
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_words < 1 or self.min_words < self.shingle_words:
            raise ValueError("shingle_words must be >= 1 and min_words >= shingle_words")
        if self.bands < 1 or self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        for name in ("jaccard", "containment", "min_size_ratio", "lead_containment"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.max_bucket < 2:
            raise ValueError("max_bucket must be at least 2")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    def fingerprint(self) -> str:
        """What band keys depend on; stored with the seen-index to detect a change."""
        return f"affine32:{self.seed}:{self.num_perm}:{self.bands}:{self.shingle_words}"


class Sketch(NamedTuple):
    """What verification needs of one article: its shingles, its lead's shingles, its numbers."""

    article_id: str
    shingles: frozenset
    lead: frozenset  # shingles of the first LEAD_WORDS words
    numbers: frozenset


def pack_sketch(found: Sketch) -> tuple:
    """A compact copy of a sketch to ship between workers: shingles as sorted uint32 bytes.

    A frozenset of 500 ints is ~35 KB of Python objects; these bytes are 2 KB. Grouping
    transforms hold their input decoded in memory, so what travels must be small.
    """
    def pack(values: frozenset) -> bytes:
        return np.fromiter(sorted(values), dtype=np.uint32, count=len(values)).tobytes()

    return found.article_id, pack(found.shingles), pack(found.lead), tuple(sorted(found.numbers))


def unpack_sketch(packed: tuple) -> Sketch:
    """The :class:`Sketch` that :func:`pack_sketch` packed (equal to the original)."""
    article_id, shingles, lead, numbers = packed
    return Sketch(article_id, frozenset(np.frombuffer(shingles, dtype=np.uint32).tolist()),
                  frozenset(np.frombuffer(lead, dtype=np.uint32).tolist()), frozenset(numbers))


def _shingles(words: list[str], k: int) -> frozenset:
    if len(words) < k:
        return frozenset()
    if k < 1:  # not a shingle size NearConfig allows; kept as it always was
        return frozenset(zlib.crc32(" ".join(words[i:i + k]).encode("utf-8")) for i in range(len(words) - k + 1))
    # zip of k staggered views: the k-word windows, all in C (str.encode is UTF-8)
    windows = zip(*(words[i:] for i in range(k)))
    return frozenset(map(zlib.crc32, map(str.encode, map(" ".join, windows))))


def shingle_hashes(text: str, k: int) -> frozenset:
    """32-bit CRC hashes of the k-word shingles of the text's fingerprint (deterministic)."""
    return _shingles(fingerprint_words(text), k)


def numbers_in(text: str) -> frozenset:
    """The figures a text states, thousands separators removed ("5,000" == "5000").

    Years (1900-2099) are left out: they turn up in appended boilerplate ("Copyright 2020")
    and say little about whether two texts report the same facts.
    """
    found = (m.replace(",", "").rstrip(".") for m in _NUMBER_RE.findall(text))
    return frozenset(n for n in found if not _YEAR_RE.fullmatch(n))


def sketch(article_id: str, text: str, config: NearConfig) -> Sketch | None:
    """The article's sketch, or None when the text is too short to merge on."""
    words = fingerprint_words(text)
    if len(words) < config.min_words:
        return None
    k = config.shingle_words
    return Sketch(article_id, _shingles(words, k), _shingles(words[:LEAD_WORDS], k), numbers_in(text))


def _draw_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash  # imports scipy: ~0.5 s, paid once per datasketch version, not per run

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations ``(a, b)`` (uint32), drawn once per process.

    From the user's pickle cache (``core/cache.py``, keyed by the datasketch version and the
    parameters) when there: importing datasketch for two arrays cost every run ~0.5 s.
    """
    from importlib.metadata import version

    from pipelines.core.cache import cached

    digest = stable_hash("affine32", version("datasketch"), str(num_perm), str(seed))[:16]

    def valid(value) -> bool:
        return (isinstance(value, tuple) and len(value) == 2
                and all(isinstance(x, np.ndarray) and x.dtype == np.uint32 and x.shape == (num_perm,) for x in value))

    return cached("minhash-permutations", digest, lambda: _draw_permutations(num_perm, seed), valid)


# datasketch's affine32 MinHash, applied here without building a MinHash object per article:
# each value is pre-mixed with the MurmurHash3 32-bit finalizer, then h -> a * h + b (mod 2**32)
# per permutation, and the minimum kept. tests/core/test_fast_equivalence.py checks the keys
# against datasketch's own MinHash.update_batch.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_EMPTY_HASH = np.uint32(0xFFFFFFFF)
_CHUNK = 2048  # values per step: bounded temporaries for long texts


def _minhash_values(values: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    a, b = _permutations(num_perm, seed)
    s1, m1, s2, m2, s3 = _FMIX32
    hv = values ^ (values >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    hv = (hv ^ (hv >> s3))[:, None]
    minimum = np.full(num_perm, _EMPTY_HASH, dtype=np.uint32)
    for start in range(0, len(hv), _CHUNK):
        np.minimum(minimum, (hv[start:start + _CHUNK] * a + b).min(axis=0), out=minimum)
    return minimum


def band_keys(shingles: Iterable[int], config: NearConfig) -> list[str]:
    """One key per LSH band: ``"<band>:<hash of the band's minhash values>"``.

    The minhash is datasketch's ``affine32`` MinHash (``hashfunc=int``) of the shingle hashes.
    """
    try:
        values = np.array(list(map(int, shingles)), dtype=np.uint32)
    except OverflowError as exc:
        raise ValueError(f"shingle hash out of range for scheme 'affine32': {exc}") from exc
    data = _minhash_values(values, config.num_perm, config.seed).tobytes()
    width = 4 * config.rows
    return [f"{band}:{zlib.crc32(data[band * width:(band + 1) * width]):08x}" for band in range(config.bands)]


class Similarity(NamedTuple):
    jaccard: float
    containment: float
    size_ratio: float

    @property
    def score(self) -> float:
        """The similarity reported in ``duplicates/``: the larger of Jaccard and containment."""
        return round(max(self.jaccard, self.containment), 4)


def similarity(a: Sketch, b: Sketch) -> Similarity:
    if not a.shingles or not b.shingles:
        return Similarity(0.0, 0.0, 0.0)
    shared = len(a.shingles & b.shingles)
    smaller, larger = sorted((len(a.shingles), len(b.shingles)))
    return Similarity(shared / (len(a.shingles) + len(b.shingles) - shared), shared / smaller, smaller / larger)


def verify(a: Sketch, b: Sketch, config: NearConfig) -> float | None:
    """The pair's similarity score when they are the same story, else None."""
    sim = similarity(a, b)
    small, large = sorted((a, b), key=lambda s: (len(s.shingles), s.article_id))
    lead_kept = bool(small.lead) and len(small.lead & large.shingles) / len(small.lead) >= config.lead_containment
    trimmed_copy = sim.size_ratio >= config.min_size_ratio or lead_kept
    same = sim.jaccard >= config.jaccard or (sim.containment >= config.containment and trimmed_copy)
    if not same:
        return None
    if not (small.numbers <= large.numbers or large.numbers <= small.numbers):
        return None  # each states figures the other lacks: a template story, not a copy
    return sim.score


def candidate_pairs(ids: Iterable[str], config: NearConfig) -> list[tuple[str, str]]:
    """Ordered pairs of a band bucket; none for a bucket over ``max_bucket`` (boilerplate)."""
    members = sorted(set(ids))
    if len(members) < 2 or len(members) > config.max_bucket:
        return []
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1:]]


def leader_clusters(edges: Iterable[tuple[str, str, float]],
                    priorities: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """Group verified pairs into clusters around leaders: ``{member: (leader, similarity)}``.

    Members are taken in kept-article order (``priorities``, smallest first). The first
    unassigned one leads a cluster, and joins it everyone it was verified against that is
    still unassigned. No chaining: a member is always verified against its own leader, so
    A~B and B~C never merge A with C unless A~C. Deterministic for any edge order.
    """
    neighbours: dict[str, dict[str, float]] = {}
    for a, b, score in edges:
        neighbours.setdefault(a, {})[b] = score
        neighbours.setdefault(b, {})[a] = score
    assigned: dict[str, tuple[str, float]] = {}
    leaders: set[str] = set()
    for node in sorted(neighbours, key=lambda n: priorities[n]):
        if node in assigned or node in leaders:
            continue
        leaders.add(node)
        for other, score in sorted(neighbours[node].items(), key=lambda item: priorities[item[0]]):
            if other not in assigned and other not in leaders:
                assigned[other] = (node, score)
    return assigned
