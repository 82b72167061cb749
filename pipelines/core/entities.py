"""Named entities in an English text: spaCy's NER output, corrected where it errs on news.

In: a spaCy ``Doc`` (NER only, from :func:`pipelines.core.nlp_models.load_model`). Out:
:class:`Mention` s (start, end, label, name) in text order; helpers map short names to full
ones and organisations to the countries that open their names. The corrections:

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
  ``Times`` is ``New York Times`` (:func:`_canonical_map`).
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, NamedTuple

import wordfreq

from pipelines.core import geo
from pipelines.core.nlp_text import _PARAGRAPH_RE

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
_LOWER_WORD_RE = re.compile(r"\b[a-z][a-z]+\b")
_TRIM = " \t\"“”'‘’()[]{},;:!?-–—"  # not ".": "U.S.", "Corp."
_NAME_ZIPF_MAX = 4.0  # words rarer than this (in lower case) can be a forgotten first name
_PLACE_NOUN_RE = re.compile(
    r"(?:region|province|district|valley|county|prefecture|governorate|area|state|plateau)\b")


class Mention(NamedTuple):
    start: int
    end: int
    label: str
    name: str


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
