"""core.geo: offline geocoding of datelines, and place names and demonyms to countries."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.dateline import parse_dateline
from pipelines.core.geo import (
    country_code,
    demonym_country,
    gazetteer,
    geocode_dateline,
    is_known_place,
    place_country,
    place_key,
)

PROPERTY = settings(max_examples=200, deadline=None)


def near(result, country, lat, lon):
    got_country, got_lat, got_lon = result
    return got_country == country and abs(got_lat - lat) < 0.1 and abs(got_lon - lon) < 0.1


@pytest.mark.parametrize("text,country,lat,lon", [
    ("KABUL (Agencies): Afghan officials met.", "AF", 34.53, 69.17),
    ("WASHINGTON (Reuters) - The Fed cut rates.", "US", 38.90, -77.04),
    ("LONDON, March 3 (AP) — Shares fell.", "GB", 51.51, -0.13),
    ("NEW DELHI, India — Rain fell.", "IN", 28.62, 77.21),
    ("PARIS (AFP) -- Museums reopened.", "FR", 48.85, 2.35),
    ("NEW YORK (AP) — Stocks rose.", "US", 40.71, -74.01),
    ("SPRINGFIELD, Ill. (AP) — Lawmakers met.", "US", 39.80, -89.64),
    ("PARIS, Texas (AP) — A storm hit.", "US", 33.66, -95.56),
    ("LONDON, Ontario (CP) — Snow fell.", "CA", 42.98, -81.23),
    ("KIEV (Reuters) - Talks resumed.", "UA", 50.45, 30.52),  # a former spelling, via alternate names
])
def test_the_dateline_forms_are_geocoded(text, country, lat, lon):
    dateline, _ = parse_dateline(text)
    assert near(geocode_dateline(dateline.location, dateline.qualifier), country, lat, lon)


@pytest.mark.parametrize("location,qualifier,expected", [
    ("AFGHANISTAN", None, ("AF", None, None)),  # a country: no point to give
    ("CALIFORNIA", None, ("US", None, None)),  # a state
    ("ZABUL", None, ("AF", None, None)),  # a province (ISO 3166-2), no city of that name
    ("SPRINGFIELD", None, ("US", None, None)),  # namesakes, all in the US
    ("HAVERHILL", "N.H.", ("US", None, None)),  # a town too small for the data: the state's country
    ("PARIS", "Germany", ("DE", None, None)),  # the qualifier wins over the famous namesake
    ("GEORGIA", None, (None, None, None)),  # a country and a US state
    ("UNITED NATIONS", None, (None, None, None)),
    ("XYZZYVILLE", None, (None, None, None)),
    ("", None, (None, None, None)),
    (None, None, (None, None, None)),
    ("   ", "India", (None, None, None)),
])
def test_uncertain_places_give_only_what_is_certain(location, qualifier, expected):
    assert geocode_dateline(location, qualifier) == expected


def test_accents_do_not_matter():
    # (parse_dateline takes ASCII capitals only, so "SÃO PAULO (Reuters) -" is not split off yet)
    assert near(geocode_dateline("SÃO PAULO"), "BR", -23.55, -46.64)
    assert geocode_dateline("SAO PAULO") == geocode_dateline("SÃO PAULO")


def test_a_city_state_is_a_city():
    country, lat, lon = geocode_dateline("SINGAPORE")
    assert country == "SG" and lat is not None and lon is not None


def test_a_date_qualifier_is_ignored():
    assert geocode_dateline("LONDON", "March 3") == geocode_dateline("LONDON", None)


@pytest.mark.parametrize("name,country", [
    ("Kabul", "AF"), ("Kunduz", "AF"), ("Zabul", "AF"), ("Doha", "QA"), ("Qatar", "QA"),
    ("US", "US"), ("U.S.", "US"), ("Britain", "GB"), ("Texas", "US"), ("New York", "US"),
    ("Washington", "US"), ("Bombay", "IN"), ("Türkiye", "TR"), ("Turkey", "TR"),
    ("Victoria", None),  # an Australian state, cities in Canada and elsewhere
    ("Punjab", None),  # a state of India and a province of Pakistan
    ("Georgia", None), ("Taliban", None), ("Mohib", None), ("", None),
])
def test_place_names_in_text_map_to_countries(name, country):
    assert place_country(name) == country


def test_demonyms_and_country_names():
    assert demonym_country("Afghan") == "AF"
    assert demonym_country("Qatari") == "QA"
    assert demonym_country("Muslim") is None
    assert country_code("United States") == "US"
    assert country_code("Kabul") is None  # a city, not a country


def test_known_places():
    assert is_known_place("Kunduz") and is_known_place("Afghanistan") and is_known_place("Ohio")
    assert not is_known_place("Khalilzad") and not is_known_place("")


def test_lookup_keys_ignore_case_accents_and_saint():
    assert place_key("SÃO  PAULO") == place_key("Sao Paulo") == "sao paulo"
    assert place_key("St. Louis") == place_key("Saint Louis") == "st louis"


def test_the_gazetteer_is_loaded_once():
    assert gazetteer() is gazetteer()


@PROPERTY
@given(st.text(max_size=40), st.one_of(st.none(), st.text(max_size=40)))
def test_geocode_dateline_never_raises(location, qualifier):
    country, lat, lon = geocode_dateline(location, qualifier)
    assert country is None or (len(country) == 2 and country.isupper())
    assert (lat is None) == (lon is None)
    if lat is not None:
        assert country is not None and -90 <= lat <= 90 and -180 <= lon <= 180
        assert not math.isnan(lat)


@pytest.mark.slow
def test_gazetteer_cache_round_trip_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    from pipelines.core import geo

    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path))
    built = geo._build_gazetteer()
    geo.gazetteer.cache_clear()
    try:
        first = geo.gazetteer()  # builds and writes the cache
        [cached] = tmp_path.glob("gazetteer-*.pickle")
        geo.gazetteer.cache_clear()
        assert geo.gazetteer() == first == built  # read back from the cache
        cached.write_bytes(b"\x80\x05 not a pickle")
        geo.gazetteer.cache_clear()
        assert geo.gazetteer() == built  # unusable cache: built again, and rewritten
        geo.gazetteer.cache_clear()
        assert geo.gazetteer() == built and not list(tmp_path.glob("*.tmp"))
    finally:
        geo.gazetteer.cache_clear()
