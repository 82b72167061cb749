"""URL checks and canonicalisation.

Tracking parameters are stripped by courlan's tracker list (``utm_*``,
``fbclid``, ``gclid``, ``mc_*``, ``ref`` ...) in its non-strict mode, which keeps
every other parameter: a query that carries the article id survives.

:func:`redact_url` and :func:`redact_text` keep secrets out of logs, error messages, rejects
and manifests: a feed URL's password (``https://user:pass@host/feed``) and the values of
credential-like query parameters (``token``, ``api_key``, ``sig`` ...) become ``REDACTED``.
The fetch itself uses the real URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

import courlan

MAX_URL_LENGTH = 4096
REDACTED = "REDACTED"
# A query parameter whose (lower-case) name contains one of these carries a credential.
SECRET_PARAMETER_PARTS = ("token", "key", "secret", "password", "passwd", "pwd", "auth", "sig",
                          "session", "credential", "private")
_SECRET_PARAMETER_RE = re.compile("|".join(SECRET_PARAMETER_PARTS), re.IGNORECASE)
_QUERY_PAIR_RE = re.compile(r"([^&;=]*)=([^&;#]*)")
# The same in free text (a query quoted in an error message), and user:password@ in any URL in it.
_TEXT_SECRET_PARAMETER_RE = re.compile(
    r"([\w.\-%]*(?:" + "|".join(SECRET_PARAMETER_PARTS) + r")[\w.\-%]*)=(?!" + REDACTED + r")[^&;#\s'\"<>]+",
    re.IGNORECASE)
_TEXT_USERINFO_RE = re.compile(r"//[^/@\s'\"<>]+@")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def canonical_url(url: str) -> str | None:
    """Canonical form of an http(s) URL, or None when it is not one.

    Lower-case scheme and host, no default port, no fragment, tracking
    parameters removed, remaining parameters sorted.
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or not is_web_url(url):
        return None
    try:
        normalized = courlan.normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        return None
    parts = urlsplit(normalized)
    path, query = _escape_blanks(parts.path or "/"), _escape_blanks(parts.query)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


_BLANK_RE = re.compile(r"[\x00-\x20\x7f]")


def _escape_blanks(text: str) -> str:
    """Spaces and control characters percent-encoded (a link copied with a space in it)."""
    return _BLANK_RE.sub(lambda m: f"%{ord(m.group()):02X}", text)


def _is_secret_parameter(name: str) -> bool:
    return bool(_SECRET_PARAMETER_RE.search(unquote(name)))


def redact_url(location: str) -> str:
    """``location`` fit to log: no password (the user name stays, to tell accounts apart) and
    ``REDACTED`` for the values of credential-like query parameters. Anything else, local
    paths and unparseable strings included, is returned unchanged."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return location
    if parts.scheme.lower() not in ("http", "https"):
        return location
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        # A lone user name is often a token itself (https://TOKEN@host/feed): redacted too.
        netloc = f"{user}:{REDACTED}@{hostport}" if has_password else f"{REDACTED}@{hostport}"
    query = _QUERY_PAIR_RE.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if _is_secret_parameter(m.group(1)) and m.group(2) else m.group(0),
        parts.query)
    if netloc == parts.netloc and query == parts.query:
        return location
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(location: str) -> list[str]:
    """The secret parts of ``location`` (password, a lone user name, credential parameter values),
    raw and percent-decoded, longest first."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return []
    if parts.scheme.lower() not in ("http", "https"):
        return []
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, password = userinfo.partition(":")
        found.add(password if has_password else user)
    for name, value in _QUERY_PAIR_RE.findall(parts.query):
        if value and _is_secret_parameter(name):
            found.add(value)
    found |= {unquote(value) for value in found} | {unquote(value.replace("+", " ")) for value in found}
    return sorted((value for value in found if len(value) >= 3), key=len, reverse=True)


def redact_text(text: str, location: str) -> str:
    """``text`` (an error message, a log line) with every secret of ``location`` replaced by
    ``REDACTED`` wherever it appears: requests and urllib3 put the path and query, or the whole
    URL, into their messages in forms of their own. Secrets shorter than 3 characters are left
    (they would mangle the text and protect nothing)."""
    text = _TEXT_SECRET_PARAMETER_RE.sub(rf"\1={REDACTED}", text)
    text = _TEXT_USERINFO_RE.sub(rf"//{REDACTED}@", text)
    for secret in url_secrets(location):
        text = text.replace(secret, REDACTED)
    return text
