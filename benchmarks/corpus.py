"""Deterministic synthetic news corpora for benchmarks.

:func:`articles` (the dedup benchmark's): raw articles built from a pool of sentences over a
vocabulary of pseudo-words, so two unrelated articles share almost no 3-word shingles (as
real different stories do), with a configurable share of near-duplicates (trimmed,
copy-edited, boilerplate appended) and exact duplicates (the same text under a
tracking-parameter URL).

:func:`write_corpus` (the end-to-end harness's, ``benchmarks/bench.py``): English news
stories written as files the CLI reads, ``feeds/*.rss|*.atom``, ``documents/*.txt`` and
``feeds.yaml``, with known exact copies (tracking-parameter links, one guid in two feeds)
and near copies; :func:`serve_corpus` serves them on 127.0.0.1.

    .venv/bin/python -m benchmarks.corpus --records 1000 --out /tmp/corpus [--seed 8 --story-prefix d1-] [--serve]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html as _html
import json
import math
import os
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

SYLLABLES = ["ka", "lo", "mi", "ten", "ra", "sul", "vo", "be", "dan", "qui", "pe", "tor", "an", "gri", "fe",
             "los", "ma", "nu", "ber", "shi", "col", "dre", "hu", "zan", "ol", "pri", "wen", "ty", "ex", "ro"]
BOILERPLATE = "Copyright 2026 Example Wire. All rights reserved. Sign up for our morning newsletter."


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def sentence(words: list[str], rng: random.Random) -> str:
    chosen = [rng.choice(words) for _ in range(rng.randint(8, 22))]
    return chosen[0].capitalize() + " " + " ".join(chosen[1:]) + "."


def article_body(words: list[str], rng: random.Random) -> str:
    paragraphs = [" ".join(sentence(words, rng) for _ in range(rng.randint(2, 4)))
                  for _ in range(rng.randint(4, 8))]
    return "\n\n".join(paragraphs)


def near_copy(body: str, words: list[str], rng: random.Random) -> str:
    paragraphs = body.split("\n\n")
    edit = rng.choice(["trim", "copyedit", "boilerplate"])
    if edit == "trim":
        paragraphs = paragraphs[: max(2, len(paragraphs) * 2 // 3)]
    elif edit == "copyedit":
        tokens = " ".join(paragraphs).split(" ")
        for index in rng.sample(range(len(tokens)), k=max(1, len(tokens) // 40)):
            tokens[index] = rng.choice(words)
        return " ".join(tokens)
    else:
        paragraphs.append(BOILERPLATE)
    return "\n\n".join(paragraphs)


def articles(count: int, seed: int = 7, near_rate: float = 0.15, exact_rate: float = 0.05) -> list[dict]:
    """``count`` raw articles (feed-entry shaped dicts) with duplicates mixed in."""
    rng = random.Random(seed)
    words = vocabulary(4000, rng)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)  # 100k entries, a minute apart, end before NOW
    items: list[dict] = []
    for index in range(count):
        roll = rng.random()
        if items and roll < near_rate:
            source = rng.choice(items)
            body, url = near_copy(source["body"], words, rng), f"https://copy.example/{index}"
            title = source["title"]
        elif items and roll < near_rate + exact_rate:
            source = rng.choice(items)
            body, title = source["body"], source["title"]
            url = source["url"] + "?utm_source=feed&utm_medium=rss"
        else:
            body, title, url = article_body(words, rng), sentence(words, rng)[:-1], f"https://news.example/{index}"
        items.append({
            "source_type": "feed", "source": f"feed-{index % 200}", "source_name": f"Feed {index % 200}",
            "feed_url": f"https://feeds.example/{index % 200}.rss", "guid": f"tag:bench,2026:{index}",
            "url": url, "title": title, "summary": None, "body": body, "text_is_html": False,
            "authors": [], "categories": [], "published_at": start + dt.timedelta(minutes=index),
        })
    return items


# --- An English news corpus written as feed files and documents (benchmarks/bench.py) -----------
#
# The pseudo-word articles above suit the dedup benchmark, but the pipeline's enrichment
# depends on the language (spaCy, tone and quotes run for English only), so the end-to-end
# benchmark needs text that py3langid takes for English and spaCy finds people, places and
# quotes in. Sentences are drawn from templates whose slots are filled from word lists large
# enough that unrelated stories share few 3-word shingles, as real different stories do.


FIRST_NAMES = ["Amina", "Carlos", "Elena", "Hiroshi", "Fatima", "David", "Ingrid", "Kwame", "Lucia", "Mehmet", "Nadia", "Oscar", "Priya", "Rafael", "Sofia", "Tomasz", "Yusuf", "Zara", "Anders", "Beatriz", "Chen", "Dmitri", "Esther", "Farid", "Grace", "Hassan", "Irene", "Javier", "Keiko", "Lars", "Maria", "Nikolai", "Olga", "Pedro", "Rania", "Samuel", "Tariq", "Ursula", "Viktor", "Wei", "Adaeze", "Bruno", "Camille", "Diego", "Emeka", "Freya", "Goran", "Hana", "Ivan", "Joanna"]
LAST_NAMES = ["Okafor", "Lindqvist", "Tanaka", "Haddad", "Moreau", "Kowalski", "Mensah", "Rossi", "Novak", "Sato", "Petrov", "Alvarez", "Becker", "Chowdhury", "Dubois", "Eriksen", "Fischer", "Gallagher", "Hoffmann", "Ibrahim", "Jansen", "Kaur", "Larsen", "Mahmoud", "Nakamura", "Ortiz", "Park", "Quinn", "Richter", "Santos", "Thompson", "Varga", "Weber", "Yilmaz", "Zhou", "Andersen", "Bianchi", "Costa", "Duarte", "Eze", "Fontaine", "Gruber", "Horvat", "Iqbal", "Jovanovic", "Kim", "Lopez", "Muller", "Nwosu"]
CITIES = (("Kabul", "Afghanistan"), ("Nairobi", "Kenya"), ("Lagos", "Nigeria"), ("Lima", "Peru"),
          ("Jakarta", "Indonesia"), ("Manila", "Philippines"), ("Hanoi", "Vietnam"), ("Bogota", "Colombia"),
          ("Madrid", "Spain"), ("Lisbon", "Portugal"), ("Warsaw", "Poland"), ("Prague", "Czech Republic"),
          ("Vienna", "Austria"), ("Oslo", "Norway"), ("Stockholm", "Sweden"), ("Helsinki", "Finland"),
          ("Dublin", "Ireland"), ("Cairo", "Egypt"), ("Accra", "Ghana"), ("Dakar", "Senegal"),
          ("Addis Ababa", "Ethiopia"), ("Kampala", "Uganda"), ("Harare", "Zimbabwe"), ("Ankara", "Turkey"),
          ("Tehran", "Iran"), ("Karachi", "Pakistan"), ("Dhaka", "Bangladesh"), ("Colombo", "Sri Lanka"),
          ("Seoul", "South Korea"), ("Tokyo", "Japan"), ("Canberra", "Australia"), ("Wellington", "New Zealand"),
          ("Ottawa", "Canada"), ("Quito", "Ecuador"), ("Caracas", "Venezuela"), ("Montevideo", "Uruguay"),
          ("Bucharest", "Romania"), ("Budapest", "Hungary"), ("Riga", "Latvia"), ("Vilnius", "Lithuania"),
          ("Tallinn", "Estonia"), ("Mumbai", "India"), ("Geneva", "Switzerland"), ("Brussels", "Belgium"),
          ("Berlin", "Germany"), ("Rome", "Italy"), ("Paris", "France"), ("London", "Britain"))
CREDITS = ("Reuters", "AP", "AFP", "Agencies", "Bloomberg", "dpa")
ORG_ADJECTIVES = ["Northern", "United", "Global", "Pacific", "Atlantic", "Central", "National", "First", "Royal", "Eastern", "Western", "Southern"]
ORG_SECTORS = ["Energy", "Grain", "Rail", "Steel", "Health", "Water", "Shipping", "Mining", "Telecom", "Insurance", "Power", "Textile"]
ORG_KINDS = ["Group", "Corporation", "Holdings", "Authority", "Union", "Institute", "Bank", "Council", "Association", "Partners"]
OUTLETS = ("Daily Ledger", "Evening Courier", "Morning Herald", "Metro Times", "Coastal Post", "Valley Gazette",
           "Capital Wire", "Harbour News", "Northern Star", "Civic Observer", "Market Journal", "Plains Tribune")
NOUNS = ["government", "budget", "election", "parliament", "court", "ministry", "company", "market", "bank", "strike", "union", "report", "plan", "proposal", "agreement", "deal", "contract", "investigation", "policy", "programme", "project", "economy", "currency", "port", "railway", "bridge", "airport", "hospital", "school", "university", "farm", "harvest", "drought", "flood", "storm", "fire", "vaccine", "clinic", "factory", "mine", "pipeline", "reactor", "grid", "shipment", "tariff", "export", "loan", "bond", "debt", "deficit", "tax", "subsidy", "price", "wage", "pension", "rent", "mortgage", "ceasefire", "border", "council", "committee", "senate", "mayor", "campaign", "vote", "poll", "referendum", "protest", "rally", "trial", "verdict", "appeal", "lawsuit", "regulator", "merger", "acquisition", "profit", "revenue", "forecast", "outlook", "survey", "study", "network", "satellite", "launch", "platform", "software", "chip", "battery", "turbine", "reservoir", "coastline", "forest", "river", "harbour", "highway", "tunnel", "stadium", "festival", "museum", "exhibition", "season", "league", "tournament", "ferry", "refinery", "warehouse", "cooperative", "pharmacy", "laboratory", "court-martial", "inquiry", "audit", "treaty", "summit", "delegation", "coalition", "opposition", "cabinet", "budget-line", "shortage", "surplus", "recovery", "slowdown", "recession"]
VERBS = (("approve", "approved"), ("reject", "rejected"), ("announce", "announced"), ("delay", "delayed"),
         ("expand", "expanded"), ("cut", "cut"), ("raise", "raised"), ("lower", "lowered"), ("block", "blocked"),
         ("sign", "signed"), ("extend", "extended"), ("suspend", "suspended"), ("review", "reviewed"),
         ("criticise", "criticised"), ("defend", "defended"), ("launch", "launched"), ("propose", "proposed"),
         ("postpone", "postponed"), ("complete", "completed"), ("open", "opened"), ("close", "closed"),
         ("report", "reported"), ("confirm", "confirmed"), ("deny", "denied"), ("welcome", "welcomed"),
         ("question", "questioned"), ("challenge", "challenged"), ("secure", "secured"), ("abandon", "abandoned"),
         ("revise", "revised"), ("double", "doubled"), ("restore", "restored"), ("investigate", "investigated"),
         ("fund", "funded"), ("rebuild", "rebuilt"), ("inspect", "inspected"), ("replace", "replaced"),
         ("finance", "financed"), ("halt", "halted"), ("resume", "resumed"), ("tighten", "tightened"),
         ("ease", "eased"), ("negotiate", "negotiated"), ("publish", "published"), ("present", "presented"))
ADJECTIVES = ["new", "major", "local", "national", "regional", "federal", "public", "private", "early", "late", "final", "initial", "annual", "quarterly", "sharp", "modest", "steady", "strong", "weak", "record", "temporary", "permanent", "controversial", "ambitious", "long-awaited", "emergency", "costly", "rural", "urban", "coastal", "northern", "southern", "eastern", "western", "key", "delayed", "disputed", "revised", "preliminary", "independent", "joint", "cross-border", "second", "third", "narrow", "broad", "historic"]
ADVERBS = ["sharply", "quickly", "slowly", "narrowly", "largely", "widely", "quietly", "formally", "briefly", "again", "already", "firmly", "partly", "openly", "cautiously"]
PREPOSITIONS = ["in", "for", "on", "over", "after", "before", "during", "under", "against", "with", "across", "near", "without", "despite"]
ROLES = ("a spokesperson", "the chief executive", "a senior official", "an economist", "the director",
         "a professor", "a lawyer", "a union leader", "the deputy minister", "a researcher", "an analyst",
         "the chair")
AUXILIARIES = ("will", "could", "would", "may", "plans to", "is expected to", "is likely to", "hopes to")
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
CONNECTIVES = ("but", "while", "although", "as", "after", "because", "and")
TRACKING = "?utm_source=rss&utm_medium=feed&utm_campaign=syndication"
NEWS_BOILERPLATE = ("This story was produced with the help of our partner newsroom. Sign up for the morning "
                    "briefing to get the day's top stories in your inbox.")

_DATELINE_RE = re.compile(r"^[A-Z][A-Z ]+(?:, [A-Za-z ]+ \u2014| \([^)]*\) -) ")


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class NewsText:
    """English-looking news prose from one ``random.Random`` (deterministic for a seed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.orgs = [f"{a} {s} {k}" for a in ORG_ADJECTIVES for s in ORG_SECTORS for k in ORG_KINDS]

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def org(self) -> str:
        return "the " + self.rng.choice(self.orgs)

    def place(self) -> str:
        return self.rng.choice(CITIES)[0]

    def noun_phrase(self) -> str:
        r = self.rng
        return f"{r.choice(('the', 'a', 'its', 'their', 'the'))} {r.choice(ADJECTIVES)} {r.choice(NOUNS)}"

    def clause(self) -> str:
        r = self.rng
        kind = r.randrange(5)
        base, past = r.choice(VERBS)
        if kind == 0:
            return f"{self.noun_phrase()} {r.choice(PREPOSITIONS)} {self.place()} {past} {self.noun_phrase()}"
        if kind == 1:
            return (f"{self.org()} {r.choice(AUXILIARIES)} {base} {self.noun_phrase()} "
                    f"{r.choice(PREPOSITIONS)} {r.choice(MONTHS)}")
        if kind == 2:
            return (f"{r.randint(12, 4800)} {_plural(r.choice(NOUNS))} were {past} "
                    f"{r.choice(PREPOSITIONS)} {self.noun_phrase()}")
        if kind == 3:
            return f"{self.person()} {past} {self.noun_phrase()} {r.choice(ADVERBS)}"
        return (f"{self.noun_phrase()} {r.choice(PREPOSITIONS)} the {r.choice(NOUNS)} was {past} "
                f"{r.choice(ADVERBS)} {r.choice(PREPOSITIONS)} {self.noun_phrase()}")

    def sentence(self) -> str:
        r = self.rng
        kind = r.randrange(9)
        if kind == 0:
            return f'"{_cap(self.clause())}," said {self.person()}, {r.choice(ROLES)} at {self.org()}.'
        if kind == 1:
            return f'"{_cap(self.clause())}," {self.person()} told reporters in {self.place()}.'
        if kind == 2:
            return f"{self.person()}, {r.choice(ROLES)} at {self.org()}, said {self.clause()}."
        if kind == 3:
            return (f"The {r.choice(NOUNS)} {r.choice(('rose', 'fell', 'climbed', 'dropped'))} "
                    f"{r.randint(1, 29)}.{r.randint(0, 9)} percent to {r.randint(2, 980)} million in "
                    f"{r.choice(MONTHS)}, {self.org()} said.")
        if kind == 4:
            return f"{_cap(self.clause())} {r.choice(CONNECTIVES)} {self.clause()}."
        if kind == 5:
            return f"In {self.place()}, {self.clause()}."
        if kind == 6:
            return f"{_cap(self.org())} said on {r.choice(WEEKDAYS)} that {self.clause()}."
        return f"{_cap(self.clause())}{r.choice(('', ', officials said', ', according to ' + self.org()))}."

    def headline(self) -> str:
        r = self.rng
        base, _ = r.choice(VERBS)
        subject = r.choice((self.place(), self.org()[4:], _cap(r.choice(NOUNS))))
        verb = base + ("es" if base.endswith(("sh", "ch", "x", "s")) else "s")
        return f"{subject} {verb} {r.choice(ADJECTIVES)} {r.choice(NOUNS)} {r.choice(PREPOSITIONS)} {self.place()}"

    def dateline(self) -> str:
        r = self.rng
        city, country = r.choice(CITIES)
        if r.random() < 0.5:
            return f"{city.upper()} ({r.choice(CREDITS)}) - "
        return f"{city.upper()}, {country} \u2014 "

    def paragraphs(self) -> list[str]:
        """4-40 paragraphs, median about 11 (about 450 words, as a typical news story)."""
        r = self.rng
        count = min(40, max(4, round(r.lognormvariate(math.log(11), 0.5))))
        paragraphs = [" ".join(self.sentence() for _ in range(r.choice((1, 2, 2, 3)))) for _ in range(count)]
        if r.random() < 0.6:
            paragraphs[0] = self.dateline() + paragraphs[0]
        return paragraphs


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _near_paragraphs(paragraphs: list[str], text: NewsText) -> list[str]:
    """A copy-edited, trimmed, re-datelined or boilerplate-extended copy; figures are never edited."""
    r = text.rng
    kind = r.choice(("trim", "copyedit", "redateline", "boilerplate"))
    paragraphs = list(paragraphs)
    if kind == "trim":
        return paragraphs[: max(2, math.ceil(len(paragraphs) * 2 / 3))]
    if kind == "boilerplate":
        return paragraphs + [NEWS_BOILERPLATE]
    if kind == "redateline":
        paragraphs[0] = text.dateline() + _DATELINE_RE.sub("", paragraphs[0])
        paragraphs = paragraphs[:-1] if len(paragraphs) > 4 else paragraphs
    edited = []
    for paragraph in paragraphs:
        tokens = paragraph.split(" ")
        for index in range(len(tokens)):
            token = tokens[index]
            if r.random() < 1 / 30 and token.isalpha() and token.islower():
                tokens[index] = r.choice(ADJECTIVES)
        edited.append(" ".join(tokens))
    return edited


@dataclass(frozen=True)
class CorpusSpec:
    """What :func:`news_corpus` generates; ``records`` counts feed entries plus documents.

    ``story_prefix`` goes in front of every generated id: the originals' ``story-N`` (in
    their links, guids and the documents' ``url``) and the copies' record numbers (in the
    repost and syndication guids and links). Two corpora with different prefixes share no
    guid or link, so they can be fed to one output as different days' news
    (``benchmarks/index_growth.py``); the default ``""`` writes what it always did.
    """

    records: int = 1000
    entries_per_feed: int = 50
    document_rate: float = 0.05  # share of records that are plain-text documents
    tracking_rate: float = 0.04  # exact copy: same story, link + tracking parameters, another feed
    guid_rate: float = 0.03  # exact copy: the same entry (same absolute guid and link) in a second feed
    near_rate: float = 0.10  # near copy: copy-edited, trimmed, re-datelined or boilerplate added
    atom_share: float = 0.25  # share of feeds written as Atom 1.0 (the rest RSS 2.0)
    seed: int = 7
    story_prefix: str = ""  # in front of every generated id (story-N, copy N): no exact key shared across prefixes

    def __post_init__(self) -> None:
        if self.records < 1 or self.entries_per_feed < 1:
            raise ValueError("records and entries_per_feed must be at least 1")
        rates = (self.document_rate, self.tracking_rate, self.guid_rate, self.near_rate, self.atom_share)
        if any(not 0 <= rate <= 1 for rate in rates):
            raise ValueError("rates and shares must be in [0, 1]")
        if self.tracking_rate + self.guid_rate + self.near_rate > 0.9:
            raise ValueError("at most 90% of the records can be copies")
        if not re.fullmatch(r"[A-Za-z0-9._-]*", self.story_prefix):
            raise ValueError("story_prefix may hold only letters, digits, '.', '_' and '-' (it goes into URLs)")

    @property
    def documents(self) -> int:
        return min(self.records - 1, round(self.records * self.document_rate)) if self.records > 1 else 0

    @property
    def feed_entries(self) -> int:
        return self.records - self.documents

    @property
    def feeds(self) -> int:
        return max(1, math.ceil(self.feed_entries / self.entries_per_feed)) if self.feed_entries else 0


@dataclass
class Corpus:
    spec: CorpusSpec
    feeds: list[list[dict]]  # entries per feed, in feed order
    documents: list[dict]
    truth: dict[str, int] = field(default_factory=dict)  # originals and copies by kind


def news_corpus(spec: CorpusSpec) -> Corpus:
    """Feed entries and documents with known copies; the same spec gives the same corpus.

    Each record is an original story or a copy of an earlier original (never of a copy), so
    ``truth['originals']`` is what a perfect deduplication keeps. Feed entries are dealt to
    the feeds round-robin; a ``guid`` copy goes to a different feed than its original (a
    document slot, or a single feed, turns it into a ``tracking`` copy).
    """
    rng = random.Random(spec.seed)
    text = NewsText(rng)
    prefix = spec.story_prefix
    start = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.timezone.utc)
    feeds: list[list[dict]] = [[] for _ in range(spec.feeds)]
    documents: list[dict] = []
    originals: list[dict] = []
    truth = dict.fromkeys(("originals", "tracking", "guid", "near"), 0)
    slots = [("feed", i % spec.feeds) for i in range(spec.feed_entries)] + [("document", -1)] * spec.documents
    rng.shuffle(slots)  # documents and feeds interleaved, so copies cross between them
    for index, (kind, feed) in enumerate(slots):
        roll = rng.random()
        copy = None
        if originals:
            if roll < spec.tracking_rate:
                copy = "tracking"
            elif roll < spec.tracking_rate + spec.guid_rate:
                copy = "guid"
            elif roll < spec.tracking_rate + spec.guid_rate + spec.near_rate:
                copy = "near"
        published = start + dt.timedelta(seconds=37 * index)
        if copy is None:
            story_id = len(originals)
            outlet = rng.choice(OUTLETS)
            story = {
                "story": story_id, "copy": None, "title": text.headline(), "paragraphs": text.paragraphs(),
                "link": f"https://www.{outlet.lower().replace(' ', '')}.example/{published:%Y/%m/%d}/"
                        f"{prefix}story-{story_id}",
                "guid": f"tag:{outlet.lower().replace(' ', '')}.example,2026:{prefix}story-{story_id}",
                "published": published, "author": text.person(), "category": rng.choice(NOUNS).capitalize(),
                "source": outlet, "feed": feed,
            }
            originals.append(story)
        else:
            source = rng.choice(originals)
            if copy == "guid" and (kind == "document" or source["feed"] == feed or spec.feeds == 1):
                copy = "tracking"
            story = dict(source, copy=copy, feed=feed)
            if copy == "tracking":
                story.update(link=source["link"] + TRACKING, guid=f"tag:bench-repost.example,2026:{prefix}{index}",
                             published=source["published"] + dt.timedelta(minutes=rng.randint(5, 600)))
            elif copy == "near":
                outlet = rng.choice(OUTLETS)
                story.update(paragraphs=_near_paragraphs(source["paragraphs"], text), source=outlet,
                             link=f"https://syndication.example/{outlet.lower().replace(' ', '-')}/{prefix}{index}",
                             guid=f"tag:syndication.example,2026:{prefix}{index}", author=text.person(),
                             published=source["published"] + dt.timedelta(minutes=rng.randint(5, 600)))
            truth[copy] += 1
        if kind == "document":
            documents.append(story)
        else:
            feeds[feed].append(story)
    truth["originals"] = len(originals)
    truth["copies"] = spec.records - len(originals)
    return Corpus(spec, feeds, documents, truth)


def _rfc822(stamp: dt.datetime) -> str:
    return stamp.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _summary(story: dict) -> str:
    first = story["paragraphs"][0]
    return first.split(". ")[0].rstrip(".") + "."


def _content_html(story: dict) -> str:
    return "".join(f"<p>{_html.escape(p, quote=False)}</p>" for p in story["paragraphs"])


def rss_feed(entries: list[dict], title: str, link: str) -> str:
    """RSS 2.0 with full text in ``content:encoded`` and the first sentence as description."""
    esc = _html.escape
    items = []
    for s in entries:
        items.append(
            "    <item>\n"
            f"      <title>{esc(s['title'])}</title>\n"
            f"      <link>{esc(s['link'])}</link>\n"
            f"      <guid isPermaLink=\"false\">{esc(s['guid'])}</guid>\n"
            f"      <pubDate>{_rfc822(s['published'])}</pubDate>\n"
            f"      <dc:creator>{esc(s['author'])}</dc:creator>\n"
            f"      <category>{esc(s['category'])}</category>\n"
            f"      <description>{esc(_summary(s))}</description>\n"
            f"      <content:encoded><![CDATA[{_content_html(s)}]]></content:encoded>\n"
            "    </item>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">\n  <channel>\n'
            f"    <title>{esc(title)}</title>\n    <link>{esc(link)}</link>\n"
            f"    <description>{esc(title)} (synthetic benchmark feed)</description>\n"
            "    <language>en</language>\n" + "".join(items) + "  </channel>\n</rss>\n")


def atom_feed(entries: list[dict], title: str, link: str) -> str:
    """Atom 1.0 with full text as escaped HTML ``content`` and the first sentence as summary."""
    esc = _html.escape
    updated = max((s["published"] for s in entries), default=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    items = []
    for s in entries:
        stamp = s["published"].strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(
            "  <entry>\n"
            f"    <title>{esc(s['title'])}</title>\n"
            f"    <link rel=\"alternate\" href=\"{esc(s['link'])}\"/>\n"
            f"    <id>{esc(s['guid'])}</id>\n"
            f"    <published>{stamp}</published>\n    <updated>{stamp}</updated>\n"
            f"    <author><name>{esc(s['author'])}</name></author>\n"
            f"    <category term=\"{esc(s['category'])}\"/>\n"
            f"    <summary>{esc(_summary(s))}</summary>\n"
            f"    <content type=\"html\">{esc(_content_html(s))}</content>\n"
            "  </entry>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f"  <title>{esc(title)}</title>\n  <link href=\"{esc(link)}\"/>\n"
            f"  <id>{esc(link)}</id>\n  <updated>{updated:%Y-%m-%dT%H:%M:%SZ}</updated>\n"
            + "".join(items) + "</feed>\n")


def document_text(story: dict, with_url: bool) -> str:
    """A plain-text document in the README's format: YAML front matter, headline, body."""
    front = ["---"]
    if with_url:
        front.append(f"url: {story['link']}")
    front += [f"source: {story['source']}", f"published: {story['published']:%Y-%m-%dT%H:%M:%SZ}", "---"]
    return "\n".join(front) + "\n" + story["title"] + "\n\n" + "\n\n".join(story["paragraphs"]) + "\n"


def write_corpus(spec: CorpusSpec, root: str | os.PathLike) -> dict:
    """Write ``root/feeds/*.rss|*.atom``, ``root/documents/*.txt`` and ``root/feeds.yaml``
    (the layout ``news-ingest run --seeds root`` reads); returns a description with the truth."""
    root = Path(root)
    corpus = news_corpus(spec)
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    (root / "documents").mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed + 1)
    names = []
    for number, entries in enumerate(corpus.feeds):
        atom = rng.random() < spec.atom_share
        name = f"feeds/{number:05d}.{'atom' if atom else 'rss'}"
        title, link = f"Bench Feed {number}", f"https://feeds.bench.example/{number}"
        (root / name).write_text((atom_feed if atom else rss_feed)(entries, title, link), encoding="utf-8")
        names.append(name)
    for number, story in enumerate(corpus.documents):
        (root / "documents" / f"{number:06d}.txt").write_text(
            document_text(story, with_url=rng.random() < 0.8 or story["copy"] == "tracking"), encoding="utf-8")
    (root / "feeds.yaml").write_text("feeds:\n" + "".join(f"  - {name}\n" for name in names), encoding="utf-8")
    spec_fields = asdict(spec)
    if not spec.story_prefix:  # the default: corpus.json as it was before there was a prefix
        del spec_fields["story_prefix"]
    description = {"spec": spec_fields, "feeds": len(names), "feed_entries": spec.feed_entries,
                   "documents": spec.documents, "truth": corpus.truth,
                   "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file())}
    (root / "corpus.json").write_text(json.dumps(description, indent=2), encoding="utf-8")
    return description


@contextlib.contextmanager
def serve_corpus(root: str | os.PathLike):
    """Serve ``root`` on 127.0.0.1 (an ephemeral port) and write ``root/feeds-http.yaml``,
    the feed list with the feeds' http URLs; yields that file's path."""
    import functools
    import http.server
    import threading

    root = Path(root)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # one line per request would drown the report
            pass

    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="corpus-http", daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        names = sorted(p.relative_to(root).as_posix() for p in (root / "feeds").iterdir())
        feed_list = root / "feeds-http.yaml"
        feed_list.write_text("feeds:\n" + "".join(f"  - {base}/{name}\n" for name in names), encoding="utf-8")
        yield feed_list
    finally:
        server.shutdown()
        server.server_close()


def main(argv=None) -> int:
    """``python -m benchmarks.corpus --records N --out DIR [--serve]``: write (and serve) a corpus."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--serve", action="store_true", help="serve it on 127.0.0.1 until interrupted")
    for name, default in asdict(CorpusSpec()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    out, serve = args.pop("out"), args.pop("serve")
    print(json.dumps(write_corpus(CorpusSpec(**args), out)))
    if serve:
        with serve_corpus(out) as feed_list:
            print(f"serving; feed list {feed_list} (Ctrl-C to stop)", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
