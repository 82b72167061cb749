"""core.nlp: entities, countries, key phrases, tone and quotes with the real spaCy model."""

import pytest
from eval_enrichment import prepare_row, shared_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core import nlp

SEED = "seeds/documents/000_fc173cf85abe3055.txt"


@pytest.fixture(scope="module")
def models():
    return shared_models()


def analyze_one(models, text: str) -> nlp.Analysis:
    return nlp.analyze(models, [text])[0]


@pytest.fixture(scope="module")
def seed(models) -> nlp.Analysis:
    row, _ = prepare_row(SEED)
    return analyze_one(models, nlp.analysis_text(row["title"], row["body"]))


def test_model_runs_ner_only(models):
    assert models.nlp.pipe_names == ["ner"]


def test_seed_persons(seed):
    assert seed.persons == [
        "Zalmay Khalilzad", "Jawed Faisal", "Mohib", "Suhail Shaheen", "Sami Yousafzai",
        "Salem Shah Ibrahimi", "Nooruddin Turabi", "Sayed Akbar Agha", "Hamid Saifi",
    ]


def test_seed_places_organisations_and_countries(seed):
    # Kabul is only in the dateline, which Normalize removed from the body: enrich adds it.
    assert seed.locations == ["US", "Qatar", "Doha", "Afghanistan", "Zabul", "Kunduz"]
    assert seed.organizations == ["Taliban", "Skype", "New York Times", "National Security Council",
                                  "Shaheen Corps"]
    assert seed.countries == ["AF", "QA", "US"]


def test_seed_quotes_have_their_speakers(seed):
    expected = [
        ("Zalmay Khalilzad", "Today, the US and Qatar"),
        ("Zalmay Khalilzad", "Prisoner releases by both"),  # "he said", after Khalilzad's paragraph
        ("Zalmay Khalilzad", "important, serious and"),  # "According to Khalilzad, ..."
        ("Zalmay Khalilzad", "All sides conveyed their"),  # "Khalilzad tweeted"
        ("Zalmay Khalilzad", "We have also agreed to"),  # continues the tweet
        ("Jawed Faisal", "In this videoconference,"),
        ("Mohib", "all emphasized the importance"),
        ("Mohib", "During the meeting, the sides"),  # "he added"
        ("Suhail Shaheen", "The discussion was only about"),
        ("Sami Yousafzai", "The Taliban are still insisting"),
        ("Sayed Akbar Agha", "The delegation that talked"),
        ("Hamid Saifi", "We are witnessing an increase"),
    ]
    assert [q.speaker for q in seed.quotes] == [speaker for speaker, _ in expected]
    for quote, (_, opening) in zip(seed.quotes, expected, strict=True):
        assert quote.text.startswith(opening)
    assert all(not q.text.endswith(",") for q in seed.quotes)
    assert not any("active defense mode" in q.text for q in seed.quotes)  # no speaker


def test_seed_keywords_and_tone(seed):
    assert 0 < len(seed.keywords) <= nlp.KEYWORDS
    assert "Taliban" in seed.keywords and "video conference" in seed.keywords
    assert -1 <= seed.tone <= 1


@pytest.mark.parametrize("text,persons", [
    ("National Security Advisor Mohib said on Sunday that talks would go on.", ["Mohib"]),
    ("The leaders met Mullah Nooruddin Turabi in Doha on Monday.", ["Nooruddin Turabi"]),
    ("Afghan President Ashraf Ghani and Mr. John Smith spoke in Kabul on Monday.",
     ["Ashraf Ghani", "John Smith"]),
    ("Zalmay Khalilzad arrived in Doha. Later Khalilzad met officials.", ["Zalmay Khalilzad"]),
])
def test_titles_are_not_names_and_short_forms_take_the_full_name(models, text, persons):
    assert analyze_one(models, text).persons == persons


def test_wire_credits_are_not_organisations(models):
    result = analyze_one(models, "KABUL (Agencies): Talks resumed.\n\n"
                                 "Officials met on Monday (Reuters). The Taliban said little.")
    assert "Agencies" not in result.organizations and "Reuters" not in result.organizations
    assert "Taliban" in result.organizations


def test_places_tagged_as_people_become_places(models):
    result = analyze_one(models, "Clashes have been fought in Zabul and Kunduz as well as other provinces.")
    assert "Kunduz" in result.locations and "Kunduz" not in result.persons
    assert result.countries == ["AF"]


def test_a_capitalised_ordinary_word_is_not_an_entity(models):
    result = analyze_one(models, "“Prisoner releases matter,” officials said. The prisoner was freed in Kabul.")
    assert "Prisoner" not in result.organizations + result.persons


def test_demonyms_and_country_prefixes_give_countries(models):
    result = analyze_one(models, "Qatari officials welcomed a decision by the U.S. Federal Reserve.")
    assert result.countries == ["QA", "US"]


def test_pronoun_resolves_to_the_only_person_named_before(models):
    text = ("Jawed Faisal spoke to reporters on Monday.\n\n"
            "“The talks were useful and we will meet again,” he said.")
    assert analyze_one(models, text).quotes == [
        nlp.Quote("The talks were useful and we will meet again", "Jawed Faisal")]


def test_pronoun_with_two_people_in_the_sentence_gives_no_quote(models):
    text = ("Mayor Karen Bass and councilman Kevin de León argued for an hour on Tuesday.\n\n"
            "“This city cannot wait another year,” she said.")
    assert analyze_one(models, text).quotes == []


def test_quotes_without_a_speaker_are_left_out(models):
    text = ("Afghan forces, who are in “active defense mode” have suffered heavy casualties. "
            "“Nobody knows what comes next,” a resident of Kabul said.")
    assert analyze_one(models, text).quotes == []


def test_quote_attributed_before_it(models):
    text = ("The first announcement came from US special envoy Zalmay Khalilzad in a series of "
            "Twitter posts, saying: “Today the two sides met for talks.”")
    assert analyze_one(models, text).quotes == [nlp.Quote("Today the two sides met for talks.", "Zalmay Khalilzad")]


def test_speaker_after_a_title(models):
    text = "“We need to understand how she would do it,” said Senator Mike Crapo of Idaho."
    assert analyze_one(models, text).quotes == [nlp.Quote("We need to understand how she would do it",
                                                          "Mike Crapo")]


def test_analysis_text_keeps_a_sentence_case_headline_and_drops_title_case():
    assert nlp.analysis_text("Afghan officials hold talks", "Body.") == "Afghan officials hold talks.\n\nBody."
    assert nlp.analysis_text("Kenya Launches Drought Relief As Rains Fail", "Body.") == "Body."
    assert nlp.analysis_text("Headline only", "") == "Headline only"


def test_analysis_text_is_capped_on_a_paragraph_break():
    body = "\n\n".join(["word " * 999 + "end."] * 20)
    text = nlp.analysis_text("Title here", body)
    assert len(text) <= nlp.MAX_CHARS and text.endswith("end.")


def test_analysis_text_is_never_cut_inside_a_word():
    text = nlp.analysis_text("Title here", "Jawed Faisal spoke. " * 5000)
    assert len(text) <= nlp.MAX_CHARS and text.endswith("Faisal spoke.")
    text = nlp.analysis_text("Title here", "Jawed Faisal " * 5000)
    assert len(text) <= nlp.MAX_CHARS and text.split()[-1] in {"Jawed", "Faisal"}


def test_keywords():
    text = "Climate negotiators met in Bonn. The climate negotiators discussed carbon markets and carbon prices."
    phrases = nlp.keywords(text, "en")
    assert 0 < len(phrases) <= nlp.KEYWORDS
    assert any("carbon" in p.casefold() for p in phrases)
    assert nlp.keywords("", "en") == []
    assert nlp.keywords("…", "en") == []
    assert nlp.keywords(text, "zh") is None  # YAKE cannot split Chinese into words
    assert nlp.keywords(text, None) is None


def test_tone(models):
    assert nlp.tone("This is a wonderful, happy success. Everyone loves it.", models.sentiment) > 0.5
    assert nlp.tone("A terrible, deadly attack killed dozens. Grief and anger spread.", models.sentiment) < -0.5
    assert nlp.tone("", models.sentiment) is None
    assert nlp.tone("1234 !!!", models.sentiment) is None


def test_sentences_split_on_punctuation_not_inside_words():
    assert nlp.sentences("Mr. Smith went. He left!\n\nNew paragraph") == [
        "Mr.", "Smith went.", "He left!", "New paragraph"]


def test_batches_give_the_same_answers_as_single_texts(models):
    texts = ["Jawed Faisal met officials in Kabul.", "", "“We will win,” said Hamid Saifi.", "1 2 3"]
    assert nlp.analyze(models, texts) == [analyze_one(models, t) for t in texts]


def test_empty_batch(models):
    assert nlp.analyze(models, []) == []


WORDS = st.sampled_from([
    "Jawed", "Faisal", "said", "he", "she", "Kabul", "Taliban", "the", "Mullah", "President", "(Reuters)",
    "“", "”", "\"", ",", ".", "\n\n", "KABUL (Agencies):", "according to", "tweeted", "Zabul", "مرحبا",
    "🎉", "-", "U.S.", "Afghan", "Council", "region", "Prisoner", "prisoner",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(WORDS, max_size=40).map(" ".join))
def test_analysis_never_raises_and_stays_consistent(models, text):
    result = analyze_one(models, text)
    assert result.countries == sorted(set(result.countries))
    assert all(len(code) == 2 for code in result.countries)
    assert all(q.speaker and q.text for q in result.quotes)
    assert result.tone is None or -1 <= result.tone <= 1
    for names in (result.persons, result.organizations, result.locations):
        assert len({n.casefold() for n in names}) == len(names) and all(n.strip() == n and n for n in names)
