"""Deterministic synthetic news corpus for benchmarks.

Articles are built from a pool of sentences over a vocabulary of pseudo-words, so two
unrelated articles share almost no 3-word shingles (as real different stories do), with
a configurable share of near-duplicates (trimmed, copy-edited, boilerplate appended) and
exact duplicates (the same text under a tracking-parameter URL).
"""

from __future__ import annotations

import datetime as dt
import random

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
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
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
