"""The words of every numeric role (bot/attributes.py), read only where the catalog has the role, and the bounds
they put on its columns."""

from pathlib import Path

import numpy as np
import pytest

from recochat.bot.attributes import HIGH, LOW, NOT_HIGH, RANGE, bounds_of, read_attribute_asks
from recochat.bot.masking import MaskedMessage
from recochat.bot.profile_update import apply_constraints
from recochat.profiles.model import AttributeAsk, Constraints, TurnSignal
from recochat.retrieval.candidates import cut_of
from recochat.retrieval.catalog import load_catalog
from recochat.retrieval.request import Bound
from recochat.retrieval.schema import infer_schema

CATALOGS = Path(__file__).parent / "conversations" / "catalogs"
GAMES = load_catalog(CATALOGS / "boardgames.csv")
GADGETS = load_catalog(CATALOGS / "gadgets.csv")
FILMS = load_catalog(Path(__file__).parents[1] / "retrieval" / "catalogs" / "demo_movies.jsonl")


def read(text: str, schema=GAMES.schema, kinds=()) -> tuple[str, list[tuple]]:
    message, asks = read_attribute_asks(MaskedMessage(text.lower(), []), schema, kinds)
    return message.text, [(a.role, a.low, a.high, a.part, a.said) for a in asks]


@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("a game for 4 players", (RANGE, 4, 4, None, "for 4 players")),
        ("something for four people", (RANGE, 4, 4, None, "for four people")),
        ("a two-player game", (RANGE, 2, 2, None, "two-player")),
        ("we're 6", (RANGE, 6, 6, None, "we're 6")),
        ("a game for two, please", (RANGE, 2, 2, None, "for two")),  # a bare head-count, never "for two hours"
        ("for the four of us please", (RANGE, 4, 4, None, "for the four of us")),
        ("something for me and my partner", (RANGE, 2, 2, None, "for me and my partner")),
        ("something I can play solo", (RANGE, 1, 1, None, "solo")),
        ("a party game for a big group", (RANGE, None, None, HIGH, "for a big group")),
        ("under an hour", ("duration", None, 60, None, "under an hour")),
        ("less than 90 minutes", ("duration", None, 90, None, "less than 90 minutes")),
        ("45 minutes or less", ("duration", None, 45, None, "45 minutes or less")),
        ("at least 2 hours", ("duration", 120, None, None, "at least 2 hours")),
        ("a quick one", ("duration", None, None, LOW, "quick")),
        ("not too long please", ("duration", None, None, NOT_HIGH, "not too long")),
        ("a long one", ("duration", None, None, HIGH, "a long one")),
        ("nothing too heavy", ("complexity", None, None, NOT_HIGH, "nothing too heavy")),
        ("something light", ("complexity", None, None, LOW, "light")),
        ("a heavy euro", ("complexity", None, None, HIGH, "heavy")),
        ("a game for my family of 4", (RANGE, 4, 4, None, "family of 4")),  # no count at all before
        ("nothing with too many rules", ("complexity", None, None, NOT_HIGH, "nothing with too many rules")),
        ("too many rules in that one", ("complexity", None, None, NOT_HIGH, "too many rules")),
        ("something with simple rules", ("complexity", None, None, LOW, "simple rules")),
        # the time there is, named as a budget (read as nothing before: a recipe catalog led with a slow curry)
        ("dinner in 30 minutes", ("duration", None, 30, None, "in 30 minutes")),
        ("i only have an hour", ("duration", None, 60, None, "in an hour")),
        ("we've got 2 hours tonight", ("duration", None, 120, None, "in 2 hours")),
        ("a 20-minute game", ("duration", None, 20, None, "in 20 minutes")),
        ("a podcast for my 30 minute commute", ("duration", None, 30, None, "in 30 minutes")),  # the trip's length
        ("chicken and rice, 30 minutes", ("duration", None, 30, None, "in 30 minutes")),
    ],
)
def test_board_game_phrases(text, ask):
    blanked, asks = read(text)
    assert asks == [ask]
    assert ask[-1] not in blanked  # read once: neither an aspect nor a count


def test_a_bare_head_count_is_never_a_length():
    assert [a for a in read("a game for two hours")[1] if a[0] == RANGE] == []


@pytest.mark.parametrize(
    "text", ["the first 10 minutes were slow but i loved it", "i played it 2 hours ago", "30 minutes in i gave up"]
)
def test_minutes_said_of_something_else_are_no_time_budget(text):
    assert read(text)[1] == []


@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("headphones under $60", ("price", None, 60, None, "under $60")),
        ("less than 30 dollars", ("price", None, 30, None, "less than 30 dollars")),
        ("$20 or less", ("price", None, 20, None, "$20 or less")),
        ("something cheap", ("price", None, None, LOW, "cheap")),
        ("not too expensive", ("price", None, None, NOT_HIGH, "not too expensive")),
        ("#1 is too expensive", ("price", None, None, LOW, "cheaper")),  # was read as asking for expensive ones
        ("that one is way too pricey", ("price", None, None, LOW, "cheaper")),
        ("a premium one", ("price", None, None, HIGH, "premium")),
        ("somewhere fancier", ("price", None, None, HIGH, "fancier")),
        ("an upscale one for a special occasion", ("price", None, None, HIGH, "special occasion")),
        ("highly rated", ("rating", None, None, HIGH, "highly rated")),
        ("4+ stars", ("rating", 4, None, None, "4+ stars")),
        ("rated above 4.5 stars", ("rating", 4.5, None, None, "rated above 4.5 stars")),
    ],
)
def test_product_phrases(text, ask):
    assert read(text, GADGETS.schema)[1] == [ask]


def test_a_bare_number_is_a_price_only_where_the_catalog_has_prices_and_no_durations():
    """'A red under 20' read as nothing on the wine catalog, and a powerful Napa Cabernet came third."""
    assert read("a red under 20 for pasta", GADGETS.schema)[1] == [("price", None, 20, None, "under 20")]
    assert read("something under 2 hours", GADGETS.schema)[1] == []  # a unit says it is no price
    assert [a for a in read("under 4.5 stars please", GADGETS.schema)[1] if a[0] == "price"] == []
    assert read("a game under 20", GAMES.schema)[1] == []  # a catalog with durations: minutes, or a price?


def test_a_complaint_asks_for_less():
    assert read("#2 is too long")[1] == [("duration", None, None, LOW, "shorter")]
    assert read("#1 is a bit too complex")[1] == [("complexity", None, None, LOW, "lighter")]
    assert read("nothing too long")[1] == [("duration", None, None, NOT_HIGH, "nothing too long")]


def test_only_the_roles_a_catalog_has_are_read():
    assert read("something light and quick, under $20, highly rated", FILMS.schema)[1] == []  # a film's mood
    assert read("cheap, for 4 players", GAMES.schema)[1] == [(RANGE, 4, 4, None, "for 4 players")]
    assert read("heavy and for 4 players", GADGETS.schema)[1] == []


def test_the_last_ask_of_a_role_wins_and_a_catalog_word_is_left_to_its_facet():
    assert read("quick, well, under 2 hours")[1] == [("duration", None, 120, None, "under 2 hours")]
    blanked, asks = read("something quick", kinds={"quick"})  # a recipe catalog tags its quick recipes
    assert asks == [] and "quick" in blanked
    assert read("a fast-paced game")[1] == []


def test_a_third_of_a_column_of_few_values_keeps_at_most_half_past_a_tie():
    """Ten restaurants priced $ ×4, $$ ×3, $$$ ×2, $$$$: "fancier" kept the six from $$ up, a taqueria first."""
    levels = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 4], dtype=float)
    assert cut_of(levels, 2 / 3, False) == 2  # the plain quantile, as "not too expensive" reads it
    assert cut_of(levels, 2 / 3, False, "above") == 3
    assert cut_of(levels, 1 / 3, False, "below") == 1
    assert cut_of(np.array([1, 1, 1, 1, 1, 2.0]), 1 / 3, False, "below") == 1  # nothing lower to move to
    assert cut_of(np.array([15.0, 20, 30, 60, 120]), 2 / 3, False, "above") == cut_of(
        np.array([15.0, 20, 30, 60, 120]), 2 / 3, False
    )  # no tie: unchanged


def test_bounds_on_the_columns():
    columns = {
        "weight": np.array([1.0, 1.5, 2.5, 4.0, np.nan]),
        "minutes": np.array([15.0, 20, 30, 60, 120]),
        "max_players": np.array([4.0, 4, 5, 8, 12]),
    }

    def numbers(column: str, fraction: float, spread: bool, keeps=None) -> float | None:
        return cut_of(columns[column], fraction, spread, keeps)

    asks = [
        AttributeAsk(RANGE, "for 4 players", 4, 4),
        AttributeAsk("complexity", "nothing too heavy", part=NOT_HIGH),
        AttributeAsk("duration", "quick", part=LOW),
    ]
    assert bounds_of(asks, GAMES.schema, numbers) == (
        Bound("min_players", None, 4, "for 4 players", prefer=4),
        Bound("max_players", 4, None, "for 4 players", prefer=4),
        Bound("weight", None, 3.0, "nothing too heavy", relative=True),  # two thirds up the spread, 1.0–4.0
        Bound("minutes", None, pytest.approx(np.quantile([15, 20, 30, 60, 120], 1 / 3)), "quick", relative=True),
    )
    big = bounds_of([AttributeAsk(RANGE, "a big group", part=HIGH)], GAMES.schema, numbers)
    assert big == (
        Bound("max_players", pytest.approx(np.quantile([4, 4, 5, 8, 12], 2 / 3)), None, "a big group", relative=True),
    )
    assert bounds_of([AttributeAsk("price", "cheap", part=LOW)], GAMES.schema, numbers) == ()  # no price here
    pages = infer_schema([{"id": f"b{n}", "title": f"Book {n}", "pages": 100 + n} for n in range(5)])
    assert bounds_of([AttributeAsk("duration", "under an hour", None, 60)], pages, numbers) == ()


def test_asks_are_held_like_years_and_logged_with_the_turn():
    c = Constraints()
    four, hour = AttributeAsk(RANGE, "for 4 players", 4, 4), AttributeAsk("duration", "under an hour", None, 60)
    assert apply_constraints(c, TurnSignal(attributes=[four, hour], new_topic=True)) == ["for 4 players, under an hour"]
    quick = AttributeAsk("duration", "quick", part=LOW)
    apply_constraints(c, TurnSignal(attributes=[quick]))  # a refinement replaces its role, keeps the others
    assert c.attributes == [four, quick] and c.describe() == ["for 4 players", "quick"]
    notes = apply_constraints(c, TurnSignal(positive=["a party game"], new_topic=True))
    assert c.attributes == [] and notes == ["not held to for 4 players, quick any more"]
    signal = TurnSignal(attributes=[four])
    assert TurnSignal.from_json(signal.to_json()) == signal
    assert Constraints.from_dict({"attributes": [{"role": RANGE, "said": "for 4 players", "low": 4, "high": 4}]}) == (
        Constraints(attributes=[four])
    )
