"""Rule-based understanding: negation, title linking, constraints, feedback in words."""

import re

import numpy as np
import pytest

from recochat.bot.masking import TITLE_STUB, MaskedMessage
from recochat.bot.understanding import CHAT_TYPOS, understand
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.titles import TitleIndex

ITEMS = [
    CatalogItem("inception", "Inception", "x", {"year": 2010}),
    CatalogItem("heat95", "Heat", "x", {"year": 1995}),
    CatalogItem("heat72", "Heat", "x", {"year": 1972}),
    CatalogItem("up", "Up", "x", {"year": 2009}),
    CatalogItem("pp", "Pride and Prejudice", "x", {"year": 2005}),
    CatalogItem("hf", "Hot Fuzz", "x", {"year": 2007}),
]
GENRES = {"comedy", "horror", "drama", "science fiction", "thriller"}


def parse(text):
    return understand(text, TitleIndex(ITEMS), GENRES, 2023)


def test_negation_goes_to_negative_aspects_and_excluded_genres():
    u = parse("something funny but not stupid, no horror")
    assert "horror" in u.exclude_genres and "horror" not in u.include_genres
    assert any("stupid" in a for a in u.negative)
    assert not any("stupid" in a or "horror" in a for a in u.positive)
    assert "comedy" in u.include_genres  # "funny"


@pytest.mark.parametrize(
    "text, item, polarity",
    [
        ("I loved Inception", "inception", "like"),
        ("i loved inception", "inception", "like"),
        ("I loved Inceptoin", "inception", "like"),
        ("i really liked incpetion", "inception", "like"),
        ("seen Heat already", "heat95", "seen"),
        ("I hated Heat (1972)", "heat72", "dislike"),
        ("something like Pride and Prejudice", "pp", "like"),
    ],
)
def test_title_linking(text, item, polarity):
    mentions = parse(text).titles
    assert [(m.item_id, m.polarity) for m in mentions] == [(item, polarity)]


@pytest.mark.parametrize(
    "text, polarity",
    [
        ("I didn’t like Inception", "dislike"),  # a phone's apostrophe
        ("I was disappointed in Inception", "dislike"),
        ("I was a little bored by Inception", "dislike"),
        ("I can't say I enjoyed Inception", "dislike"),
        ("Inception was too much for me", "dislike"),
        ("I saw Inception. It was horrible", "dislike"),  # judged by "it" in the next sentence
        ("I've seen Inception but it's not one of my favorites", "dislike"),
        ("I saw Inception. It was great", "like"),  # praised by "it" in the next sentence
        ("I saw Inception already, loved it", "like"),  # the next clause says the taste
        ("I saw Inception, never liked it", "dislike"),
        ("I loved Inception, but it was too long", "like"),  # a like said in words stays one
        ("I fell asleep during Inception", "dislike"),
        ("Inception? meh", "dislike"),  # a bare verdict right after the title
        ("Inception - not for me", "dislike"),
        ("I saw Inception but didn't care for it.", "dislike"),  # the next clause says no and ends on "it"
        ("he has seen Inception and wasnt fond of it", "dislike"),
        ("I have not seen Inception and I don't want to see it", "dislike"),
        ("I haven't seen Inception but I'd like to see it", "like"),
        ("I've seen Inception, didn't you love it?", "seen"),  # a question is no verdict
        # not seen is no dislike: ReDial's seekers mostly mark such titles liked (they want to see them)
        ("I've never seen Inception", "like"),
        ("I have not seen Inception yet", "like"),
        ("I've never heard of Inception but will check it out", "like"),  # was a dislike, as were the next three
        ("I did not see Inception, I'll have to watch it", "like"),
        ("I don't think I've seen Inception", "like"),
        ("never saw Inception", "like"),
        ("I can never get enough of Inception lol", "like"),  # was a dislike, as was the next
        ("I didn't know he was in Inception", "like"),
        ("yes i haven't enjoyed Inception", "dislike"),  # "haven't" about the taste, not about seeing
        ("I watched Inception but it was a little confusing for me.", "dislike"),  # a letdown said of "it"
        ("I saw Inception, it was slow but I loved it", "seen"),  # ... taken back in the same sentence
        ("I must respectfully disagree about Inception. it was very corny for me.", "dislike"),
        ("the last film i've seen him in was Inception. wasn't a huge fan though", "dislike"),
        ("i thought i'd love Inception but i found myself losing interest.", "dislike"),  # a like only expected
        ("I will watch Inception, not a fan of Charlize though", "like"),  # the verdict is on someone else
    ],
)
def test_dislikes_said_in_the_words_redial_seekers_use(text, polarity):
    """From ReDial's train conversations and the tuning half's seekers: the rules read 54% of the held-out half's
    dislikes (49% before the clause that ends on "it", 46% before that), the learned reader 65% as before. The
    letdowns said next ("it was a little confusing", "wasn't a huge fan though") took the rules from 56.9% to
    59.2% of ReDial train's dislikes and 43.6% to 45.5% of the tuning half's, no like read otherwise; none of
    the held-out half's 63 dislikes is said that way."""
    assert [m.polarity for m in parse(text).titles] == [polarity]


@pytest.mark.parametrize(
    "text, polarity",
    [
        ("I just watched Inception and liked it a lot!", "like"),
        ("I watched Inception and it was really funny", "like"),
        ("I saw Inception. Great movie!", "like"),  # a verdict on its own
        ("I watched Inception and loved that recent movie.", "like"),
        ("I've seen Inception, it is very cute", "like"),
        ("I saw Inception. I loved Heat", ["seen", "like"]),  # the praise is for another title
        ("I saw Inception and it was not good", "dislike"),
        ("I have seen Inception, good question", "seen"),  # "good" of something else
        ("I saw Inception, it was slow but I loved it", "seen"),
    ],
)
def test_a_title_seen_and_praised_next_is_liked(text, polarity):
    """ReDial seekers often say they saw a film, then praise it ("I just watched X and liked it a lot!", "I saw X.
    Great movie!"). These read as only seen, so the film was left out of the taste; on ReDial train and the tuning
    half 60 mentions now read as liked (57 the seeker's form marked liked, 3 marked seen), and no dislike changed."""
    assert [m.polarity for m in parse(text).titles] == (polarity if isinstance(polarity, list) else [polarity])


@pytest.mark.parametrize(
    "text, polarity",
    [
        ("not Inception, I've seen it", "seen"),
        ("Inception? seen it already", "seen"),
        ("Inception. I've seen it.", "seen"),
        ("not Inception, I hated it", "dislike"),
        ("Inception, seen it and loved it", "like"),
    ],
)
def test_a_title_turned_down_as_seen_is_only_seen(text, polarity):
    """ "not Inception, I've seen it" said "you disliked Inception", and "Inception? seen it already" liked it: a
    title with nothing but a "no" or a "?" beside it, then a clause that only says seen, is seen, no taste."""
    assert [m.polarity for m in parse(text).titles] == [polarity]


@pytest.mark.parametrize(
    "text, include, exclude",
    [
        ("nothing too scary for my kids", ["family"], ["horror"]),  # the audience is never what is negated
        ("something for my kids, nothing scary", ["family"], ["horror"]),
        ("nothing for kids please, a grown-up drama", ["drama"], ["family"]),  # ... unless it is the audience
        ("not for kids", [], ["family"]),
        ("a movie for my 8 year old", ["family"], []),  # an age is an audience too
        ("a film for an 8-year-old, nothing scary", ["family"], ["horror"]),
    ],
)
def test_an_audience_holds_inside_a_negation_unless_it_is_what_is_negated(text, include, exclude):
    u = understand(text, TitleIndex(ITEMS), GENRES | {"family"}, 2023)
    assert (sorted(u.include_genres), sorted(u.exclude_genres)) == (include, exclude)
    assert ("family" in u.insisted_genres) == ("family" in include)
    assert not any("kids" in aspect for aspect in u.negative if "family" in include)


@pytest.mark.parametrize(
    "text, include, exclude, negative",
    [
        ("horror without jump scares", ["horror"], [], ["jump scares"]),
        ("a comedy that isn't stupid", ["comedy"], [], ["stupid"]),
        ("a thriller which is not cheesy", ["thriller"], [], ["cheesy"]),
        ("something that is not horror", [], ["horror"], ["horror"]),
    ],
)
def test_without_and_a_negated_that_clause_say_no_only_to_what_follows(text, include, exclude, negative):
    u = parse(text)
    assert (u.include_genres, u.exclude_genres, u.negative) == (include, exclude, negative)


@pytest.mark.parametrize(
    "text, include, exclude, positive, negative",
    [
        ("I don't mind subtitles", [], [], ["subtitles"], []),
        ("I wouldn't say no to a heist movie", [], [], ["heist"], []),
        ("no idea, surprise me", [], [], [], []),
        ("not sure, maybe a thriller", ["thriller"], [], ["thriller"], []),
        ("anything as long as it is not a horror", [], ["horror"], [], ["horror"]),
        ("anything but a rom-com", [], ["romance"], [], ["rom-com"]),
        # a genre asked for and said no to by a narrower word in the same message stays asked for
        ("something scary but not gory", ["horror"], [], ["scary"], ["gory"]),
        ("a movie for date night", ["romance"], [], ["date night"], []),  # an occasion leans to its genre
        # a word for part of a genre excludes only itself
        ("not into superhero stuff", [], [], [], ["superhero"]),
        ("a superhero movie", ["action"], [], ["superhero"], []),
    ],
)
def test_phrases_that_look_negative_and_are_not(text, include, exclude, positive, negative):
    u = understand(text, TitleIndex(ITEMS), GENRES | {"romance", "action"}, 2023)
    assert (u.include_genres, u.exclude_genres, u.positive, u.negative) == (include, exclude, positive, negative)


@pytest.mark.parametrize(
    "text, new_topic, include, negative",
    [
        ("something funnier", False, ["comedy"], []),  # the current request, leaning to comedy
        ("a bit darker", False, [], []),
        ("less violent please", False, [], ["violent"]),
        ("too dark, something lighter", False, ["comedy"], ["dark"]),  # "too dark" asked for dark before
        ("that was too scary", False, [], ["scary"]),
        ("something funnier with dragons", True, ["comedy"], []),  # words of its own: a request of its own
        ("something with better battery", False, [], []),  # headphones under $100 gave way to a charger
        ("one with longer battery life", False, [], []),
        ("better acting", False, [], []),
        ("something more strategic", False, [], []),  # a party game for 8 lost its 8 players
        ("something with more action", False, [], []),
        ("more of a romantic comedy", True, ["comedy"], []),  # "more of" names what it is
    ],
)
def test_comparatives_refine_the_current_request(text, new_topic, include, negative):
    u = parse(text)
    assert (u.new_topic, u.include_genres, u.negative) == (new_topic, include, negative)


def test_too_much_of_something_is_a_negative_aspect_without_the_judgement():
    assert parse("too much gore please").negative == ["gore"]


def test_common_word_titles_do_not_link_from_everyday_words():
    assert parse("I'm fed up with sad stuff").titles == []
    assert [m.item_id for m in parse("I loved Up and Hot Fuzz").titles] == ["up", "hf"]


def test_constraints_decades_and_ranges():
    assert (parse("something from the 90s").year_min, parse("something from the 90s").year_max) == (1990, 1999)
    u = parse("a thriller after 2010")
    assert (u.year_min, u.year_max, u.include_genres) == (2011, None, ["thriller"])
    assert (parse("since 2010").year_min, parse("before 1950").year_max) == (2010, 1949)
    assert parse("nothing after 2010").year_max == 2010
    u = parse("nothing before 1980")
    assert (u.year_min, u.year_max) == (1980, None)
    u = parse("something I haven't seen")  # seen items are never offered, so the phrase carries nothing
    assert (u.positive, u.negative, u.titles) == ([], [], [])


@pytest.mark.parametrize(
    "text, rank, value, strong",
    [
        ("the second one looks great", 2, "like", False),
        ("more like #3", 3, "like", True),
        ("not that one", 1, "dislike", False),
        ("no to number 2", 2, "dislike", False),
        ("I've seen that one already", 1, "seen", False),  # out of the replies, no taste either way
        ("already watched #3", 3, "seen", False),
        ("watched the third one too, loved it", 3, "like", False),  # the next clause judges it
        ("seen #2. it was awful", 2, "dislike", False),
        ("seen the first one, great pick", 1, "like", False),
        ("saw the last one, anything older?", -1, "seen", False),
        ("I've read #1", 1, "seen", False),  # other catalogs' kin of seen
        ("we played the second one last week", 2, "seen", False),
        ("I want to read #1", 1, "like", False),
        ("i've made #3, it was great", 3, "like", False),
        ("not that one, I've seen it", 1, "seen", False),  # read as a dislike: "you disliked Kung Fu Hustle"
        ("no, not #2, already watched it", 2, "seen", False),
        ("not that one, I've seen it and hated it", 1, "dislike", False),
        ("I watched #3 last night, loved it", 3, "like", False),  # "last night" is no rank: #-1 was seen too
    ],
)
def test_feedback_in_words(text, rank, value, strong):
    feedback = parse(text).rank_feedback
    assert [(f.rank, f.value, f.strong) for f in feedback] == [(rank, value, strong)]


def test_what_s_a_good_one_asks_nothing_in_particular():
    """ "What's a good movie to watch with my parents" asked for something "what's": Past Lives, tagged 'what if'."""
    assert parse("what's a good movie to watch with my parents").positive == []
    assert parse("what's a good horror movie?").include_genres == ["horror"]
    assert parse("something from their era").positive == []


def test_a_fan_of_is_no_aspect():
    """ReDial: "Not a fan of war movies" said no to something "fan war"; "I am a fan of johnny depp" asked for it."""
    assert parse("not a fan of horror").negative == ["horror"]
    assert parse("I'm a huge fan of heists").positive == ["heists"]


def test_how_a_question_starts_is_no_taste():
    """ "what about a korean movie" asked for something "what about korean": the tag 'what if' met its "what", and
    Past Lives came first, "tagged ‘what if’"."""
    assert parse("what about a korean movie").positive == ["korean"]
    assert parse("how about something korean").positive == ["korean"]
    assert parse("what do you have that is korean").positive == ["korean"]


def test_others_like_a_person_is_no_taste():
    """ "any other director like him?" asked for something "other director him" (a quote of "film director")."""
    for text in (
        "any other director like him?",
        "other authors similar to her",
        "directors like that",
        "something like his films but not by him",  # all of them were his
        "something like that, but isn't his",
    ):
        u = parse(text)
        assert (u.others_like_people, u.positive) == (True, []), text
    assert not parse("a film about a director").others_like_people


def test_a_love_story_is_a_taste():
    """ "something with a love story but not sappy" asked for a "story" (Superman, "tagged 'origin story'")."""
    assert parse("something with a love story but not sappy").positive == ["love story"]
    assert parse("a love triangle").positive == ["love triangle"]
    assert parse("I love comedies").positive == ["comedies"]


def test_somewhere_or_a_game_like_a_title_anchors_it():
    """ "somewhere like Casa Luna" said "you've seen Casa Luna" (a restaurant guide), and ranked nothing like it."""
    for text in ("somewhere like Hot Fuzz", "a game like Hot Fuzz", "a place similar to Hot Fuzz"):
        [mention] = parse(text).titles
        assert (mention.polarity, mention.anchor) == ("like", True), text


def test_leaving_it_to_the_bot_is_no_taste():
    """ "I give up, just something good" asked for something "give up", and the reply said nothing fit it."""
    for text in ("I give up, just something good", "idk, you pick", "whatever is fine", "I don't know what I want"):
        assert parse(text).positive == [], text


def test_an_audience_of_adults_rules_out_the_childrens_genres():
    """ "like Harry Potter but for adults" asked for "adults": Alice in Wonderland, "enjoyed by adults"."""
    u = understand("something for adults", TitleIndex(ITEMS), GENRES | {"family"}, 2023)
    assert (u.exclude_genres, u.positive) == (["family"], [])
    assert parse("a grown-up comedy").positive == ["comedy"]


def test_when_is_no_rank_and_nope_no_taste():
    """ReDial: "I just watched that movie last week" marked the last pick seen; "Nope, never saw that one" asked
    for something "nope"."""
    assert parse("I just watched Up last week").rank_feedback == []
    assert parse("nope, something funnier").positive == ["funnier"]
    assert parse("nah, not into it").positive == []


def test_a_rank_reference_keeps_the_years_genres_and_people_of_its_clause():
    from recochat.retrieval.people import PeopleIndex

    u = parse("more like #2 from the 90s")
    assert [(f.rank, f.value, f.strong) for f in u.rank_feedback] == [(2, "like", True)]
    assert (u.year_min, u.year_max) == (1990, 1999)
    u = parse("more like #2 but funnier, the third one with no horror")
    # "the third one with no horror" is the third one without the horror (as "without horror" reads), no dislike
    assert [(f.rank, f.value) for f in u.rank_feedback] == [(2, "like"), (3, "like")]
    assert u.exclude_genres == ["horror"]
    u = parse("more like the second one, a thriller")
    assert u.include_genres == ["thriller"]
    u = parse("more like #2 with horror")
    assert ([f.rank for f in u.rank_feedback], u.include_genres, u.positive) == ([2], ["horror"], [])
    people = PeopleIndex([CatalogItem("a", "A", "x", {"stars": ["Tom Hanks"]})])
    u = understand("more like #2 with tom hanks", TitleIndex(ITEMS), GENRES, 2023, people)
    assert ([f.rank for f in u.rank_feedback], u.liked_people) == ([2], ["Tom Hanks"])


def test_nul_characters_typed_by_the_user_are_not_taken_for_titles():
    u = parse("funny\x00 movies \x00#2")
    assert [f.rank for f in u.rank_feedback] == [2] and u.titles == []
    u = parse("\x00\x00 I loved Inception\x00 but not Heat (1972) \x00")
    assert [(m.item_id, m.polarity) for m in u.titles] == [("inception", "like"), ("heat72", "dislike")]


def test_titles_keep_their_clause_when_lowercasing_lengthens_the_text():
    u = parse("İİİİİİİİİİ no. I loved Inception, not Heat (1972)")  # "İ".lower() is two characters
    assert [(m.item_id, m.polarity) for m in u.titles] == [("inception", "like"), ("heat72", "dislike")]


@pytest.mark.parametrize("text", ["meh", "hmm, none of these", "I don't like any of these", "ok, not these"])
def test_meh_rejects_everything_shown(text):
    assert parse(text).reject_all_shown  # "hmm, none of these" was read as nothing, and no question was asked


def test_a_no_about_one_title_rejects_nothing_else():
    assert not parse("Hmm, nope... never heard of that one either.").reject_all_shown


@pytest.mark.parametrize("text", ["hi", "Thanks!", "thank you so much", "bye"])
def test_small_talk(text):
    assert parse(text).intent == "smalltalk"


def test_questions_about_an_item():
    u = parse("what is #2 about?")
    assert (u.intent, u.about_rank) == ("about", 2)
    u = parse("tell me about Inception")
    assert (u.intent, u.about_item) == ("about", "inception")
    assert parse("why #1?").intent == "why"


def test_what_about_a_request_is_a_recommendation_not_a_question():
    u = parse("what about something funny like Hot Fuzz?")
    assert u.intent == "recommend"
    assert [m.item_id for m in u.titles] == ["hf"] and "comedy" in u.include_genres
    assert parse("what about Inception?").intent == "about"


def test_any_year_and_any_genre_clear_constraints():
    u = parse("any genre is fine, any year")
    assert u.clear_genres and u.clear_years


def test_titles_with_apostrophes_and_ampersands():
    index = TitleIndex(
        ITEMS
        + [
            CatalogItem("sl", "Schindler's List", "x", {"year": 1993}),
            CatalogItem("ls", "Lilo & Stitch", "x", {"year": 2002}),
        ]
    )
    found = [m.item_id for m in index.find("1. Schindler's List (1993) and Lilo & Stitch, or lilo and stitch")]
    assert found == ["sl", "ls", "ls"]


def test_genre_inside_a_longer_genre_is_not_matched_twice():
    u = understand("science fiction please", TitleIndex(ITEMS), {"science fiction", "science"}, 2023)
    assert u.include_genres == ["science fiction"]


def test_funny_maps_to_the_catalog_humour_genre():
    assert understand("something funny", TitleIndex(ITEMS), {"humour", "crime"}, 2023).include_genres == ["humour"]


def test_people_are_found_with_polarity():
    from recochat.retrieval.people import PeopleIndex

    people = PeopleIndex(
        [
            CatalogItem("a", "A", "x", {"stars": ["Tom Hanks", "Meg Ryan"], "director": "Nora Ephron"}),
            CatalogItem("b", "B", "x", {"author": "Ford"}),
        ]
    )
    u = understand("something with tom hanks, but no Nora Ephron", TitleIndex(ITEMS), GENRES, 2023, people)
    assert (u.liked_people, u.disliked_people) == (["Tom Hanks"], ["Nora Ephron"])
    assert people.find("a Ford car") == []  # single names are too ambiguous


def test_typo_matching_looks_only_at_the_most_popular_titles_of_huge_catalogs(monkeypatch):
    from recochat.retrieval import titles

    monkeypatch.setattr(titles, "FUZZY_LIMIT", 2)
    items = [
        CatalogItem("ins", "Insomnia", "x", {"popularity": 0}),
        CatalogItem("inc", "Inception", "x", {"popularity": 10}),
        CatalogItem("int", "Interstellar", "x", {"popularity": 5}),
    ]
    index = TitleIndex(items)
    assert [m.item_id for m in index.find("I loved Inceptoin and liked Intersteller")] == ["inc", "int"]
    assert [m.item_id for m in index.find("I loved Insomnai")] == []
    assert [m.item_id for m in index.find("I loved Insomnia")] == ["ins"]  # exact matches see every title


def test_typo_candidates_keep_every_title_that_could_reach_the_cutoff():
    """The length window is a bound, not a heuristic: scanning only it finds the same best score."""
    from rapidfuzz import fuzz, process

    from recochat.retrieval.titles import FUZZY_CUTOFF

    words = ["in", "cep", "tion", "star", "inter", "the", "dark", "night", "rises", "a", "up", "x"]
    rng = np.random.default_rng(3)
    items = [CatalogItem(f"t{n}", " ".join(rng.choice(words, rng.integers(1, 4))), "x") for n in range(400)]
    index = TitleIndex(items)
    narrowed = 0
    for _ in range(300):
        phrase = "".join(rng.choice(list("intcepsoarhdkgu "), rng.integers(5, 16))).strip() or "inception"
        length = min(max(1, len(phrase.split())), max(index._fuzzy_choices))
        everything = index._fuzzy_choices[length][0]
        best = process.extractOne(phrase, everything, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        windowed = process.extractOne(
            phrase, index._typo_candidates(phrase, length), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        assert (best and best[1]) == (windowed and windowed[1]), phrase
        narrowed += len(index._typo_candidates(phrase, length)) < len(everything)
    assert narrowed > 100  # the window does cut the scan, not only keep it correct


MOVIE_FIELDS = {"year", "genres", "director", "stars", "description", "tags", "popularity"}


def asked(text, fields=MOVIE_FIELDS):
    return understand(text, TitleIndex(ITEMS), GENRES, 2023, fields=fields)


@pytest.mark.parametrize(
    "text, count",
    [
        ("just one", 1),
        ("only one please", 1),
        ("give me ten", 10),
        ("give me 7", 7),
        ("3 more", 3),
        ("two more please", 2),
        ("a couple of thrillers", 2),
        ("top 5 thrillers", 5),
        ("give me 50", 50),  # capped by the engine, which says so
        ("a few comedies", None),  # the usual number
        ("#3", None),
        ("more like #3", None),
        ("number 2 more", None),
        ("something from the 90s", None),
        ("give me 90's thrillers", None),
        ("a thriller from 2010", None),
        ("under 2 hours", None),
        ("a comedy about a couple in crisis", None),
        ("the only one I liked was Hot Fuzz", None),
    ],
)
def test_counts(text, count):
    assert asked(text).count == count


def test_a_count_is_no_aspect_and_keeps_rank_feedback_and_years():
    u = asked("3 more like #2 from the 90s")
    assert u.count == 3 and u.positive == [] and (u.year_min, u.year_max) == (1990, 1999)
    assert [(f.rank, f.value, f.strong) for f in u.rank_feedback] == [(2, "like", True)]
    assert asked("give me ten").positive == [] and asked("a few comedies").positive == ["comedies"]
    assert asked("loved Hot Fuzz, 2 please").titles[0].item_id == "hf"


@pytest.mark.parametrize(
    "text, topic",
    [
        ("something not too long", "length"),
        ("a thriller under 2 hours", "length"),
        ("something cheap", "price"),
        ("under $10", "price"),
        ("a drama in french", "language"),
        ("something with subtitles", "language"),
        ("highly rated thrillers", "rating"),
        ("a short classic novel", "length"),  # a word between: Dune led, and no one said length was no filter
        ("rated pg-13", "age rating"),
        ("something on netflix", "streaming service"),
    ],
)
def test_asks_the_catalog_has_no_field_for_are_dropped_and_named(text, topic):
    u = asked(text)
    assert u.unsupported == [topic]
    for word in ("long", "hours", "cheap", "french", "subtitles", "rated", "pg", "netflix"):
        assert all(word not in aspect for aspect in u.positive + u.negative), (text, u.positive, u.negative)


@pytest.mark.parametrize(
    "text, positive, negative",
    [
        ("a comedy that's not stupid", ["comedy"], ["stupid"]),  # "that's not" cuts as "that isn't" does
        ("I have chicken and rice, what can I make?", ["chicken", "rice"], []),  # 'make' lit a 'make ahead' tag
        ("what should I cook tonight", [], []),
    ],
)
def test_what_a_clause_says_no_to_and_what_is_no_taste(text, positive, negative):
    u = parse(text)
    assert (u.positive, u.negative, u.exclude_genres) == (positive, negative, [])


@pytest.mark.parametrize(
    "text", ["I've seen all of those", "seen them all", "I have read all of them", "watched all 5"]
)
def test_seen_all_of_them_marks_every_pick_seen(text):
    """It was read as nothing, and "Nothing I have left fits" came with random picks."""
    u = parse(text)
    assert [(f.rank, f.value) for f in u.rank_feedback] == [(n, "seen") for n in range(1, 11)]
    assert (u.positive, u.new_topic) == ([], False)


@pytest.mark.parametrize(
    "text, superlative",
    [
        ("which one is the shortest?", "shortest"),
        ("which of these is cheapest", "cheapest"),
        ("Which one is the most expensive?", "most expensive"),
        ("what is the newest one?", "newest"),
        ("the shortest one please", None),  # an ask, not a question about the picks
        ("which one is the shortest, Heat or Ronin?", None),  # names titles: not the picks on screen
    ],
)
def test_which_one_is_the_shortest_compares_the_picks_on_screen(text, superlative):
    u = parse(text)
    assert u.superlative == superlative
    assert (u.intent == "about") == (superlative is not None)


def test_horror_asked_for_mild_leans_to_the_horror_comedies():
    assert parse("a horror movie that isn't too scary").include_genres == ["horror", "comedy"]
    assert parse("a horror movie").include_genres == ["horror"]


def test_a_feel_good_movie_keeps_its_mood_word_whole():
    assert parse("a feel good movie for a sunday afternoon").positive == ["feel-good"]  # it read "feel"


def test_a_length_ask_keeps_the_words_between():
    assert asked("a short classic novel").positive == ["classic novel"]


def test_an_ask_the_catalog_can_answer_is_left_to_the_aspects():
    u = asked("something quick", fields={"minutes", "genres"})
    assert u.unsupported == [] and u.positive == ["quick"]
    assert asked("something cheap", fields={"price"}).unsupported == []
    assert asked("something not too long", fields=None).unsupported == []  # no fields given: not checked


@pytest.mark.parametrize(
    "text, rank, value",
    [
        ("#1 is too long", 1, "dislike"),  # the length ask taken out left "#1 is": a like of #1
        ("#3 is way too pricey", 3, "dislike"),
        ("#2, too expensive", 2, "dislike"),  # the rank alone, then what is wrong with it
        ("not too long, #2 looks good", 2, "like"),
        ("I liked #1. #2 too", 2, "like"),  # "too" as "also"
    ],
)
def test_a_complaint_that_is_an_ask_still_says_no_to_the_pick(text, rank, value):
    u = asked(text)
    assert [(f.rank, f.value) for f in u.rank_feedback][-1] == (rank, value)
    assert u.positive == u.negative == []


def test_a_dropped_ask_does_not_flip_the_rest_of_its_clause():
    """'not' in 'not too long' is no negation of 'funny comedy'."""
    u = asked("a funny comedy not too long")
    assert u.unsupported == ["length"] and u.include_genres == ["comedy"] and u.exclude_genres == []
    assert u.positive == ["funny comedy"] and u.negative == []


def test_everyday_words_near_the_asks_are_not_taken_for_them():
    for text in ("something with strong language", "a long story", "a movie about a cheapskate", "top rated"):
        u = asked(text)
        assert "language" not in u.unsupported and "price" not in u.unsupported, text


def test_for_the_kids_is_an_audience_that_holds_like_an_insisted_genre() -> None:
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    result = understand("animated, for the kids", TitleIndex([]), {"animation", "family", "horror"}, 2025)
    # family is insisted (Akira is animated and no film for kids); "animated" in passing only leans the ranking
    assert result.insisted_genres == ["family"]
    assert set(result.include_genres) == {"family", "animation"}
    assert understand("a movie about kids growing up", TitleIndex([]), {"family"}, 2025).insisted_genres == []


@pytest.mark.parametrize(
    "text", ["what was the first one you showed me?", "what's #2", "which was the last one", "remind me what #3 was"]
)
def test_asking_what_a_shown_pick_was_is_no_like(text) -> None:
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    result = understand(text, TitleIndex([]), {"comedy"}, 2025)
    assert result.intent == "about" and result.rank_feedback == []  # was "you liked Blade Runner"


@pytest.mark.parametrize(
    "text, insisted",
    [
        ("something to watch with my kids, they're 8 and 10", ["family"]),  # soft before: The Shining two turns on
        ("something my kids will like", ["family"]),
        ("movie night with my 8 year old", ["family"]),
        ("something for the whole family", ["family"]),
        ("something my 8 year old and I can watch", ["family"]),  # was cut at "and": Almost Famous and 2001
        ("a movie for me and my kids", ["family"]),
        ("something for my 6yo", ["family"]),
        ("my toddler and I need a film for a rainy day", ["family"]),
        ("my kids loved Frozen, I want something for me", []),  # who liked what, not who watches
        ("nothing for kids", []),
        ("a film about the whole family falling apart", []),
    ],
)
def test_with_my_kids_is_an_audience_too(text, insisted) -> None:
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    result = understand(text, TitleIndex([]), {"animation", "family", "horror"}, 2025)
    assert result.insisted_genres == insisted
    assert not {"re 8", "night", "will"} & set(result.positive)  # who and when are no taste


@pytest.mark.parametrize(
    "text, released",
    [
        ("ok forget the kid, just for me: more like Parasite", ["family"]),
        ("the kids are asleep, something for me", ["family"]),
        ("kids went to bed, something scary", ["family"]),
        ("now something for us", ["family"]),
        ("something just for my kids", []),
        ("something for my kids", []),
    ],
)
def test_letting_the_children_go_releases_the_audience(text, released) -> None:
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    result = understand(text, TitleIndex([]), {"animation", "family", "horror"}, 2025)
    assert result.released_genres == released
    assert not {"kid", "kids", "asleep", "bed"} & {w for p in result.positive for w in p.split()}


def test_typo_candidates_letter_bound_keeps_the_same_best_title():
    """The letter-count bound drops titles that cannot reach the cutoff: the scan's hit (title and score, ties
    resolved the same way) is the one over every title of the length window."""
    from rapidfuzz import fuzz, process

    from recochat.retrieval.titles import FUZZY_CUTOFF

    words = ["in", "cep", "tion", "star", "inter", "the", "dark", "night", "rises", "a", "up", "x", "stellar"]
    rng = np.random.default_rng(5)
    items = [CatalogItem(f"t{n}", " ".join(rng.choice(words, rng.integers(1, 4))), "x") for n in range(3000)]
    index = TitleIndex(items)
    found = narrowed = 0
    for _ in range(400):
        title = index._fuzzy_choices[1][0][int(rng.integers(len(index._fuzzy_choices[1][0])))]
        chars = list(title)
        for _ in range(int(rng.integers(0, 3))):  # a typo or two: swap, drop or add a letter
            at = int(rng.integers(len(chars)))
            op = rng.integers(3)
            if op == 0 and at + 1 < len(chars):
                chars[at], chars[at + 1] = chars[at + 1], chars[at]
            elif op == 1 and len(chars) > 5:
                del chars[at]
            else:
                chars.insert(at, str(rng.choice(list("aeinrst"))))
        phrase = "".join(chars).strip() or "inception"
        length = min(max(1, len(phrase.split())), max(index._fuzzy_choices))
        choices, lengths = index._fuzzy_choices[length]
        c = FUZZY_CUTOFF / 100
        window = [k for k, n in zip(choices, lengths, strict=True)
                  if len(phrase) * c / (2 - c) - 1 <= n <= len(phrase) * (2 - c) / c + 1]  # fmt: skip
        best = process.extractOne(phrase, window, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        kept = index._typo_candidates(phrase, length)
        hit = process.extractOne(phrase, kept, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        assert (best and best[:2]) == (hit and hit[:2]), phrase
        found += best is not None
        narrowed += len(kept) < len(window) // 4
    assert found > 200 and narrowed > 200


@pytest.mark.parametrize(
    "text, years",
    [
        ("I don't like old movies", (1984, None)),  # newest year in these tests' catalog: 2023
        ("nothing old please", (1984, None)),
        ("something old", (None, 1983)),
        ("a movie about an old man", (None, None)),  # a plot's "old"
        ("an old western", (None, 1983)),  # gave Brokeback Mountain (2005)
        ("some good old horror movies", (None, 1983)),
        ("a western about an old man", (None, None)),
        ("a film about a 10 year old girl", (None, None)),
        ("nothing too old", (1984, None)),
        ("mind-bending sci-fi, nothing too long ago", (1984, None)),  # no length ask: "too long" is followed by "ago"
        ("the last one was too old", (1984, None)),
        ("I'm too old for cartoons", (None, None)),  # the viewer's age
        ("not too long please", (None, None)),  # a length ask, no years
    ],
)
def test_old_is_a_range_of_years_only_when_said_of_the_items(text, years):
    u = parse(text)
    assert (u.year_min, u.year_max) == years
    assert not {"ago", "long ago"} & {*u.positive, *u.negative}
    if years != (None, None):  # years, no taste: "old western" as an aspect found West Side Story
        assert not any("old" in phrase.split() for phrase in u.positive)


@pytest.mark.parametrize(
    "text, genres",
    [
        ("a comedy about horror movies", ["comedy"]),  # Coco, a music film, led "a documentary about music"
        ("a thriller about a scary clown", ["thriller"]),  # "scary" is its topic here, not a second genre
        ("a movie about horror movies", ["horror"]),  # nothing before "about": "a movie" names no genre
    ],
)
def test_a_genre_after_about_is_the_topic_of_one_before_it(text, genres):
    assert parse(text).include_genres == genres


@pytest.mark.parametrize(
    "text, positive",
    [
        ("a feel-good movie for a rainy sunday", ["feel-good"]),  # read "feel- rainy sunday": "good" was filler
        ("a well-made thriller", ["well-made thriller"]),
        ("something for saturday night", []),  # when, not what
        ("so-so", []),
        ("I loved it, what next?", []),  # "what next" lifted Past Lives, tagged 'what if', into five romance lists
        ("something to watch on a plane", []),  # Airplane! 'fits "on plane"'
        ("a movie for a long train ride", []),  # Train to Busan, Trainspotting, How to Train Your Dragon
        ("what to watch on vacation with friends", []),  # Us, tagged 'vacation'
        ("something I can finish on a flight", []),
        ("something to listen to while driving", []),
        ("a podcast for the gym", []),  # an item's word alone is no topic either
        ("a road trip movie", ["road trip"]),  # a trip the film is about stays
        ("a film about a train journey", ["about train journey"]),
    ],
)
def test_filler_is_whole_words_and_an_occasion_is_no_taste(text, positive):
    assert parse(text).positive == positive


@pytest.mark.parametrize(
    "text, said, positive",
    [
        ("earbuds for the gym", {"gym"}, ["earbuds gym"]),  # "… fine for the gym and the commute"
        ("something for a long road trip", {"gym"}, []),  # no podcast says it: "nothing fits" was all it gave
        ("something for a long road trip", {"road", "trip"}, ["road trip"]),
        ("what to play while driving", {"driving"}, ["driving"]),
    ],
)
def test_an_occasion_an_untagged_catalogs_texts_say_keeps_its_word(text, said, positive):
    u = understand(text, TitleIndex(ITEMS), GENRES, 2023, occasions_said=True, said_in_catalog=said.__contains__)
    assert u.positive == positive


@pytest.mark.parametrize(
    "text, relative",
    [
        ("more like Hot Fuzz but older", "older"),
        ("something like Inception but newer", "newer"),
        ("more like #2 but earlier", "older"),
        ("the second one looks great, something more recent", "newer"),
        ("something newer", "newer"),  # alone: the engine finds to what (with nothing on screen, "recent")
        ("something older", "older"),  # read as nothing before: the same picks came back
        ("an older man falls in love", None),  # words of its own: a plot, not a range
        ("more like Hot Fuzz", None),
    ],
)
def test_older_and_newer_are_relative_to_an_anchor(text, relative):
    u = parse(text)
    assert u.relative_years == relative
    if relative == "newer":
        assert u.year_min is None  # the engine sets it from the anchor's year, not "the last five years"


def test_a_title_to_find_more_like_is_an_anchor_no_learned_reading_changes():
    from recochat.bot.understanding import apply_polarity

    u = parse("more like Hot Fuzz but older")
    assert [(m.item_id, m.polarity, m.anchor) for m in u.titles] == [("hf", "like", True)]
    apply_polarity(u, ["seen"])  # what the learned reader said of "more like The Nice Guys"
    assert u.titles[0].polarity == "like" and u.new_topic
    u = parse("I have seen Hot Fuzz")
    apply_polarity(u, ["dislike"])
    assert u.titles[0].polarity == "dislike" and not u.titles[0].anchor


@pytest.mark.parametrize(
    "text, positive, negative",
    [
        # who is watching says nothing of the taste: "my girlfriend" was read as a topic, "she sad" as one too
        ("my girlfriend and I want a movie tonight, she hates anything sad", [], ["sad"]),
        ("something we can watch with our parents", [], []),
        ("a film my kids haven't seen", [], []),  # the audience ("for my kids") is read before, as family
        ("a film about a mother and daughter", ["about mother", "daughter"], []),  # a topic stays one
        ("i've made #3, it was great", [], []),  # praise alone asks for nothing "great"
        ("a good thriller", ["thriller"], []),
        ("I watched Hot Fuzz and liked it a lot!", [], []),  # how much: "lot" was an aspect
        ("i liked Hot Fuzz a little bit", [], []),  # ... "little" too
        ("good question, something funny", ["funny"], []),  # ... and "good question"
        ("a little scary is fine", ["scary"], []),
    ],
)
def test_who_is_watching_is_no_aspect(text, positive, negative):
    u = parse(text)
    assert (u.positive, u.negative) == (positive, negative)


@pytest.mark.parametrize(
    "text, positive, negative",
    [
        ("no black and white movies please", [], ["black-and-white"]),  # was no "black" and a wish for "white"
        ("I want a black and white classic", ["black-and-white classic"], []),
        ("rock and roll and romance", ["rock-and-roll", "romance"], []),  # "and" still cuts between two wishes
        ("funny and smart", ["funny", "smart"], []),
    ],
)
def test_a_compound_said_with_and_is_one_thing(text, positive, negative):
    u = parse(text)
    assert (u.positive, u.negative) == (positive, negative)


@pytest.mark.parametrize(
    "text, intent",
    [
        ("I will check those out, thanks bye", "smalltalk"),  # was a request for "will check those out", "bye"
        ("I haven't heard of that one, I'll check it out", "smalltalk"),
        ("That sounds good, I'll add it to my list", "smalltalk"),
        ("Have a good day!", "smalltalk"),  # was a request for "day"
        ("thanks! something funnier please", "recommend"),  # chat beside a request leaves the request alone
        ("I'll check out #2", "recommend"),  # ... and beside a rank, a like of it
        ("I'll check out Hot Fuzz", "recommend"),
        ("something good", "recommend"),  # no chat at all
    ],
)
def test_chat_around_the_picks_is_small_talk(text, intent):
    u = parse(text)
    assert u.intent == intent and all(p == "funnier" for p in u.positive)


def test_too_much_singing_rules_out_musicals():
    u = understand("hmm, too much singing", TitleIndex(ITEMS), GENRES | {"musical"}, 2023)
    assert u.exclude_genres == ["musical"]


@pytest.mark.parametrize(
    "text, intent",
    [
        ("is #2 any good?", "about"),  # a question about the pick, once read as a like of it
        ("is the third one good?", "about"),
        ("is Hot Fuzz worth watching?", "about"),
        ("#2 looks good", "recommend"),
        ("the second one is good", "recommend"),
        ("is #1 scary?", "about"),  # noted "you liked Star Wars" and built the next picks around it
        ("does #2 have a happy ending?", "about"),
        ("is there anything like #2?", "recommend"),
        ("did you see the second one?", "recommend"),  # asks the recommender, often of a title the seeker liked
    ],
)
def test_is_it_any_good_asks_about_the_item(text, intent):
    assert parse(text).intent == intent


@pytest.mark.parametrize(
    "text, insisted",
    [
        ("something quick for dinner, I'm vegetarian", ["vegetarian", "vegan"]),  # who the user is holds like "only"
        ("we're vegan", ["vegan"]),
        ("I'm a horror fan", []),  # more said after the genre: it only leans
        ("a horror movie", []),
        ("a vegetarian dinner", ["vegetarian", "vegan"]),  # a diet holds however it is said, stricter ones too
        ("not vegan, a vegetarian one", ["vegetarian"]),
    ],
)
def test_i_am_a_genre_holds_it(text, insisted):
    u = understand(text, TitleIndex(ITEMS), GENRES | {"vegetarian", "vegan"}, 2023)
    assert u.insisted_genres == insisted


@pytest.mark.parametrize(
    "text, insisted",
    [
        ("more like #1 but a comedy", ["comedy"]),  # as a lean it lost to the anchor's own kind
        ("something like Hot Fuzz but scary", ["horror"]),
        ("I like comedy but not horror", []),  # a "but" that says no is no contrast genre
        ("more like #2 but older", []),
    ],
)
def test_a_genre_after_but_in_a_more_like_holds(text, insisted):
    u = understand(text, TitleIndex(ITEMS), GENRES, 2023)
    assert u.insisted_genres == insisted


def test_chat_typos_of_the_words_the_rules_read_are_read_as_meant():
    """'somthing like X' lost its "something like" cue and asked the encoder for "somthing"."""
    u = parse("somthing like Hot Fuzz but less confusing")
    assert [(m.item_id, m.polarity, m.anchor) for m in u.titles] == [("hf", "like", True)]
    assert (u.positive, u.negative) == ([], ["confusing"])
    assert parse("i dont like horror").exclude_genres == ["horror"]
    assert parse("id like a moive pls").positive == []


def test_a_respelled_word_moves_the_titles_after_it():
    """Respelling changes lengths: each later title must stay in its clause ("somthing" + "Up", "Heat")."""
    u = parse("smth like Up, and ive seen Heat (1995)")
    assert [(m.item_id, m.polarity) for m in u.titles] == [("up", "like"), ("heat95", "seen")]
    text = "smth like Up, ive seen Heat, sth"
    message = MaskedMessage.build(text, TitleIndex(ITEMS).find(text))
    respelled = message.replaced(re.compile(r"\b(?:smth|ive|sth)\b"), lambda m: CHAT_TYPOS[m.group()])
    assert respelled.text.startswith("something like ") and respelled.text.endswith(", something")
    assert [respelled.text[at] for at, _ in respelled.titles] == [TITLE_STUB, TITLE_STUB]


@pytest.mark.parametrize(
    "text, read",
    [
        ("seen #1 and #2", [(1, "seen"), (2, "seen")]),  # the bare "#2" was a like of it
        ("I didn't like #1, #3", [(1, "dislike"), (3, "dislike")]),
        ("loved the first one and the third one too", [(1, "like"), (3, "like")]),
        ("seen #1 and #2 looks great", [(1, "seen"), (2, "like")]),  # the praise is #2's
        ("seen the first two", [(1, "seen"), (2, "seen")]),  # "you've seen The Departed", and #2 came back
        ("not the first three", [(1, "dislike"), (2, "dislike"), (3, "dislike")]),
    ],
)
def test_a_bare_rank_says_what_the_rank_before_it_said(text, read):
    assert [(f.rank, f.value) for f in parse(text).rank_feedback] == read


def test_tell_me_more_after_a_rank_asks_about_it():
    """'#3 looks interesting, tell me more' liked #3 and, as a request of its own, dropped the user's years."""
    u = parse("#3 looks interesting, tell me more")
    assert (u.intent, u.about_rank) == ("about", 3)
    u = parse("tell me more")
    assert (u.intent, u.positive, u.new_topic) == ("recommend", [], False)


def test_what_the_user_has_only_read_is_no_wish():
    """'I've read Agatha Christie already' liked her and, as a request of its own, asked for her books."""
    people = PeopleIndex([CatalogItem("a", "A", "x", {"author": "Agatha Christie"})])
    u = understand("I've read Agatha Christie already", TitleIndex(ITEMS), GENRES, 2023, people)
    assert (u.liked_people, u.positive, u.new_topic) == ([], [], False)
    u = understand("I love Agatha Christie", TitleIndex(ITEMS), GENRES, 2023, people)
    assert u.liked_people == ["Agatha Christie"]


@pytest.mark.parametrize(
    "text, positive",
    [
        ("not scary enough", ["scarier"]),  # once read as "no horror from now on"
        ("it's not dark enough for me", ["darker"]),
        ("a bit more funny", ["funnier"]),
    ],
)
def test_not_enough_and_more_say_the_comparative(text, positive):
    u = parse(text)
    assert (u.positive, u.exclude_genres, u.new_topic) == (positive, [], False)


@pytest.mark.parametrize(
    "text, unknown, positive",
    [
        ("something like Amelie", ["Amelie"], []),  # as the word "amelie" it matched Amadeus
        ("I loved Heat and Amelie, something tense", ["Amelie"], ["tense"]),
        ("I loved Amelie and Heat", ["Amelie"], []),
        ("more like Heat, Amelie and Inception", ["Amelie"], []),  # listed after a title found: said as it is
        ("I loved The Lord of the Rings", ["The Lord of the Rings"], []),
        ("I love Christmas movies", [], ["christmas"]),  # a theme, before a kind noun
        ("something like Inception but funnier", [], ["funnier"]),
        ("something French", [], ["french"]),  # no cue: a wish, not a title
    ],
)
def test_a_title_the_catalog_does_not_have_is_said_not_matched_as_words(text, unknown, positive):
    u = parse(text)
    assert u.unknown_titles == unknown
    assert u.positive == positive


def test_a_person_the_catalog_knows_is_no_unknown_title():
    items = [CatalogItem("bs", "Big", "x", {"year": 1988, "stars": ["Tom Hanks"]})]
    u = understand("I like Tom Hanks", TitleIndex(items), GENRES, 2023, PeopleIndex(items))
    assert u.unknown_titles == [] and u.liked_people == ["Tom Hanks"]


@pytest.mark.parametrize(
    "text, unknown, taste",
    [
        ("a movie with Denzel Washington", ["Denzel Washington"], []),  # gave Inglourious Basterds, nothing said
        ("something funny by Agatha Christie", ["Agatha Christie"], ["funny"]),
        ("something funny with Denzel Washington", ["Denzel Washington"], ["funny"]),  # "funny" was lost with him
        ("a smart heist movie starring Zendaya Coleman", ["Zendaya Coleman"], ["smart heist"]),
        ("something with Tom Hanks", [], None),  # known
        ("a film by Studio Ghibli", [], None),  # a tag says 'ghibli'
        ("something to watch with My Wife", [], None),  # who watches
        ("with Tom Hanks movies", [], None),
    ],
)
def test_a_person_no_one_in_the_catalog_goes_by_is_said_and_no_taste(text, unknown, taste):
    items = [
        CatalogItem("big", "Big", "x", {"year": 1988, "stars": ["Tom Hanks"]}),
        CatalogItem("howl", "Howl's Moving Castle", "A wizard.", {"year": 2004, "tags": ["ghibli"]}),
    ]
    said = {"wizard", "ghibli"}  # what the items' texts say (`CandidateIndex.saying`)
    u = understand(text, TitleIndex(items), GENRES, 2023, PeopleIndex(items), said_in_catalog=said.__contains__)
    assert u.unknown_people == unknown
    if taste is not None:  # the name's words are no taste; what was said around them is
        assert u.positive == taste


@pytest.mark.parametrize(
    "text", ["I like Stiller a lot", "I liked Nicholas Cage in it", "something like Christopher Nolan's"]
)
def test_a_name_read_as_a_person_is_no_unknown_title(text):
    items = [CatalogItem("z", "Zoolander", "x", {"year": 2001, "stars": ["Ben Stiller", "Nicolas Cage"]})]
    assert understand(text, TitleIndex(items), GENRES, 2023, PeopleIndex(items)).unknown_titles == []


@pytest.mark.parametrize(
    "text, standing, positive",
    [
        ("the best movies of all time", "popular", []),
        ("the best comedies", "popular", ["comedies"]),  # the kind after "the best" is still read
        ("something popular and funny", "popular", ["funny"]),
        ("a hidden gem", "obscure", []),
        ("an underrated gem", "obscure", []),  # "gem" was left as the taste
        ("an overlooked little gem", "obscure", []),
        ("something not very well known", "obscure", []),
        ("a movie about best friends", None, ["about friends"]),
    ],
)
def test_how_well_known_is_an_ask_not_a_taste(text, standing, positive):
    """ "a hidden gem" found Crouching Tiger, Hidden Dragon and Hidden Figures by their words."""
    u = parse(text)
    assert (u.standing, u.positive) == (standing, positive)


def test_an_award_the_catalog_cannot_filter_asks_for_the_acclaimed():
    u = understand("an oscar winner", TitleIndex(ITEMS), GENRES, 2023, fields={"year", "genres"})
    assert (u.unsupported, u.standing, u.positive) == (["awards"], "popular", [])


def test_two_titles_met_together():
    """ "something between Alien and Toy Story" read as two anchors, each with its own neighbours."""
    for text in (
        "something between Inception and Hot Fuzz",
        "Inception meets Hot Fuzz",
        "a mix of Inception and Hot Fuzz",
    ):
        u = parse(text)
        assert (u.blend, u.new_topic, u.positive) == (True, True, []), text
    assert not parse("I loved Inception and Hot Fuzz").blend


@pytest.mark.parametrize(
    "text, intent",
    [
        ("start over", "reset"),
        ("ok let's start again please", "reset"),
        ("forget everything", "reset"),
        ("start over with something scary", "recommend"),  # a request of its own, not a bare reset
        ("what's your favorite movie?", "smalltalk"),
        ("do you have Inception?", "about"),
        ("do you have anything like Inception?", "recommend"),
        ("Do you know any movie like Inception?", "recommend"),  # ReDial seekers ask this; it was read as about
        ("surprise me", "recommend"),
    ],
)
def test_requests_about_the_conversation_itself(text, intent) -> None:
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    items = [CatalogItem("inception", "Inception", "Dreams.", {"year": 2010})]
    result = understand(text, TitleIndex(items), {"horror"}, 2025)
    assert result.intent == intent
    assert not {"surprise", "favorite", "over"} & {w for p in result.positive for w in p.split()}


def test_shorter_with_no_length_column_is_said_not_matched():
    """'I loved Dune, something similar but shorter' on a books catalog without page counts dropped 'shorter'
    silently (no caveat; as a word it would match texts that say short)."""
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    items = [CatalogItem("dune", "Dune", "Desert.", {"year": 1965})]
    result = understand("I loved Dune, something similar but shorter", TitleIndex(items), set(), 2025, fields={"year"})
    assert result.unsupported == ["length"] and "shorter" not in " ".join(result.positive)


def test_with_no_says_no_to_what_follows_never_to_the_genre_before_it():
    """'a 2010s sci-fi movie with no aliens' said 'no science fiction from now on' and lost the 2010s."""
    result = parse("a 2010s sci-fi movie with no aliens")
    assert "science fiction" in result.include_genres and result.exclude_genres == []
    assert (result.year_min, result.year_max) == (2010, 2019)
    assert result.negative == ["aliens"]


@pytest.mark.parametrize("text", ["I only have an hour", "something funny, I have 2 hours"])
def test_the_time_there_is_with_no_length_column_is_said_not_matched(text):
    """'I only have an hour' on the demo (no runtime) was searched for as words: "Nothing I have left fits"."""
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    result = understand(text, TitleIndex([]), {"comedy"}, 2025, fields={"year"})
    assert result.unsupported == ["length"] and not {"hour", "hours", "have"} & set(" ".join(result.positive).split())


@pytest.mark.parametrize("text", ["why?", "why these?", "how come?", "ok why that one"])
def test_a_bare_why_asks_about_the_picks(text):
    u = parse(text)
    assert u.intent == "why" and u.about_rank is None and u.positive == []


def test_why_with_a_taste_is_no_bare_why():
    assert parse("why not something funny").intent == "recommend"


@pytest.mark.parametrize(
    "text", ["not those kind of movies", "something completely different", "a different kind of movie please"]
)
def test_the_kind_on_screen_turned_down_is_a_flag_and_no_aspect(text):
    u = parse(text)
    assert u.other_kind and u.clear_genres and u.positive == [] and u.negative == []


def test_a_different_take_on_a_theme_is_no_other_kind():
    assert not parse("a heist movie with a different twist").other_kind
