"""core.urls: http(s) checks and canonical URLs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.urls import MAX_URL_LENGTH, canonical_url, is_web_url

PROPERTY = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize("url,expected", [
    ("https://ex.com/a", True),
    ("HTTP://ex.com", True),
    ("http://ex.com:8080/x?y=1", True),
    ("ftp://ex.com/a", False),
    ("javascript:alert(1)", False),
    ("mailto:someone@ex.com", False),
    ("/relative/path", False),
    ("ex.com/a", False),
    ("https:///no-host", False),
    ("http://[::1", False),  # urlsplit raises ValueError
    ("", False),
])
def test_is_web_url(url, expected):
    assert is_web_url(url) is expected


@pytest.mark.parametrize("url,expected", [
    # tracking parameters go, the article id stays
    ("https://ex.com/a?utm_source=x&utm_medium=y&utm_campaign=z&id=5", "https://ex.com/a?id=5"),
    ("http://ex.com/?fbclid=1&gclid=2&mc_cid=3&ref=4&story=88231", "http://ex.com/?story=88231"),
    ("https://ex.com/?p=123&utm_medium=x", "https://ex.com/?p=123"),
    ("https://ex.com/a?Utm_Source=x", "https://ex.com/a"),
    ("https://ex.com/a?utm_source=x", "https://ex.com/a"),
    # case, default ports, fragments, empty path, parameter order
    ("https://Example.COM:443/Path/A#frag", "https://example.com/Path/A"),
    ("HTTP://EX.com:80/x", "http://ex.com/x"),
    ("http://ex.com:8080", "http://ex.com:8080/"),
    ("https://ex.com", "https://ex.com/"),
    ("https://ex.com/a#", "https://ex.com/a"),
    ("https://ex.com/a?b=2&a=1", "https://ex.com/a?a=1&b=2"),
    ("  https://ex.com/x  ", "https://ex.com/x"),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", [
    "", "   ", "javascript:alert(1)", "/relative/path", "relative/path", "ftp://ex.com/file",
    "mailto:a@ex.com", "file:///etc/passwd", "data:text/html,hi", "http://", "https:///x", "http://[::1",
])
def test_non_web_urls_have_no_canonical_form(url):
    assert canonical_url(url) is None


def test_overlong_url_is_refused():
    base = "https://ex.com/"
    assert canonical_url(base + "a" * (MAX_URL_LENGTH - len(base))) is not None
    assert canonical_url(base + "a" * (MAX_URL_LENGTH - len(base) + 1)) is None


def test_variants_of_one_url_share_a_canonical_form():
    variants = [
        "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411",
        "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411&utm_campaign=atom",
        "HTTPS://NEWS.EXAMPLE.ORG:443/world/2020/03/climate-talks-bonn?id=4411#top",
        "https://news.example.org/world/2020/03/climate-talks-bonn?utm_source=twitter&utm_medium=social"
        "&fbclid=IwAR0Zx9&id=4411",
    ]
    assert {canonical_url(v) for v in variants} == {
        "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411"}


def test_different_articles_keep_different_canonical_forms():
    assert canonical_url("https://ex.com/a?id=1") != canonical_url("https://ex.com/a?id=2")
    assert canonical_url("https://ex.com/a") != canonical_url("https://ex.com/A")
    assert canonical_url("http://ex.com/a") != canonical_url("https://ex.com/a")


_URLISH = st.one_of(
    st.text(),
    st.builds(lambda scheme, host, rest: scheme + host + rest,
              st.sampled_from(["http://", "https://", "HTTPS://", "javascript:", "ftp://", ""]),
              st.sampled_from(["ex.com", "EX.com:80", "ex.com:443", "a.b:8080", "[::1]", "", "ex.com:x"]),
              st.text(alphabet="abZ09-._~%:/?#[]@!$&'()*+,;= é", max_size=20)),
)


@PROPERTY
@given(_URLISH)
def test_canonical_url_never_raises(url):
    result = canonical_url(url)
    assert result is None or result.startswith(("http://", "https://"))
    if result is not None:
        assert is_web_url(result)
        assert "#" not in result


@PROPERTY
@given(_URLISH)
def test_canonical_url_is_idempotent(url):
    result = canonical_url(url)
    if result is not None:
        assert canonical_url(result) == result


@PROPERTY
@given(st.sampled_from(["utm_source", "utm_medium", "fbclid", "gclid", "mc_cid", "ref"]),
       st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
       st.integers(min_value=0, max_value=10**9),
       st.booleans())
def test_tracking_parameter_anywhere_is_dropped_and_id_kept(tracker, value, article, tracker_first):
    params = [f"{tracker}={value}", f"id={article}"]
    if not tracker_first:
        params.reverse()
    url = "https://ex.com/story?" + "&".join(params)
    assert canonical_url(url) == f"https://ex.com/story?id={article}"
