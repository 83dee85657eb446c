"""The catalog schema: every role inferred from values that agree with the name, id and title found from the
values, the user's corrections kept with the collection, and the noun from a plural file name."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recochat.bot.frontends.cli import main
from recochat.retrieval.catalog import CatalogError, load_catalog
from recochat.retrieval.ingest import infer_noun, ingest
from recochat.retrieval.schema import (
    CatalogSchema,
    ColumnMap,
    Numeric,
    RangePair,
    Role,
    infer_schema,
    number_facts,
    parse_numeric,
)
from recochat.retrieval.store import ChromaStore

CATALOGS = Path(__file__).parent / "conversations" / "catalogs"


def rows(count: int = 12) -> list[dict]:
    """A catalog with one column of each kind; every name agrees with its values except `rating` (free text)."""
    out = []
    for n in range(count):
        out.append(
            {
                "isbn": f"978-{1000 + n}",
                "label": f"Item number {n}",
                "blurb": f"A long enough description of item {n}, written to be embedded as its text.",
                "format": ["paperback", "hardcover", "ebook"][n % 3],
                "themes": "|".join(["sea", "war", "love", "family"][n % 4 : n % 4 + 2]),
                "min_players": 1 + n % 3,
                "max_players": 4 + n % 3,
                "runtime": 30 + 10 * n,
                "price_usd": f"${5 + n}.99",
                "avg_rating": 3 + (n % 20) / 10,
                "weight": 1.5 + n / 10,
                "vintage": 2000 + n,
                "votes": 100 * n,
                "rating": f"critic {n} found it touching" if n % 2 else f"moving, and a steal at {n}",
                "pages_note": n,
                "director": f"Person {n % 5}",
                "url": f"https://example.org/{n}",
            }
        )
    return out


def test_every_role_is_inferred_and_a_name_never_overrules_its_values():
    schema = infer_schema(rows())
    assert (schema.id, schema.title) == ("isbn", "label")  # no id or title name: found from the values
    assert schema.facets == ("format", "themes")
    roles = {n.column: n.role for n in schema.numerics}
    assert roles == {
        "min_players": Role.MIN,
        "max_players": Role.MAX,
        "runtime": Role.DURATION,
        "price_usd": Role.PRICE,
        "avg_rating": Role.RATING,
        "weight": Role.COMPLEXITY,
        "vintage": Role.YEAR,
        "votes": Role.POPULARITY,
        "pages_note": Role.DURATION,
    }
    assert schema.ranges == (RangePair("min_players", "max_players", "players"),)
    # `rating` holds words: text, not a number and not a facet
    assert "rating" not in roles and "rating" not in schema.facets and "rating" in schema.text
    assert schema.text[0] == "blurb" and "url" in schema.other and "director" in schema.other
    assert "people: director" in schema.describe() and "kept, not read: url" in schema.describe()


def test_a_catalog_without_ids_is_keyed_by_its_unique_titles_and_its_hosts_and_topics_are_read():
    """A podcast list: unique episode counts were taken for ids, its topics (few rows repeat them) and hosts were
    kept, not read."""
    podcasts = [
        {
            "name": f"Show {n}",
            "host": ["Tom Blake", "Ana Ruiz", "Raj Patel"][n % 3],
            "topics": ["true crime;history", "science;space", "comedy;interviews", "finance", "kids"][n % 5],
            "episodes": [120, 300, 80, 45, 1000, 210, 9][n],
            "summary": f"A weekly show number {n}, with a long enough description to be read as its text.",
        }
        for n in range(7)
    ]
    schema = infer_schema(podcasts)
    assert (schema.id, schema.title, schema.facets) == ("name", "name", ("topics",))
    assert "people: host" in schema.describe() and Numeric("episodes", Role.NUMBER) in schema.numerics
    codes = [{**row, "ref": f"{n:03d}"} for n, row in enumerate(podcasts)]  # digits all as long: codes
    assert infer_schema(codes).id == "ref"


def test_release_dates_are_years_and_neither_dates_nor_lengths_are_ids():
    """An album list: its unique release dates, then its unique two-digit lengths, were taken for ids."""
    albums = [
        {
            "album": f"Album {n}",
            "artist": ["The Lanterns", "Mara Quill"][n % 2],
            "released": f"{1990 + 3 * n}-0{1 + n % 9}-1{n % 10}",
            "length_min": 35 + 3 * n,
            "about": f"Songs number {n}, with a long enough description to be read as the album's text.",
        }
        for n in range(8)
    ]
    schema = infer_schema(albums)
    assert (schema.id, schema.title) == ("album", "album")
    assert Numeric("released", Role.YEAR) in schema.numerics and Numeric("length_min", Role.DURATION) in schema.numerics
    assert "people: artist" in schema.describe()
    assert infer_schema([{**a, "upc": f"0{700 + n}"} for n, a in enumerate(albums)]).id == "upc"  # zero-padded


def test_a_restaurant_guide_cuisines_places_price_levels_and_yes_no_columns(tmp_path):
    """Each of a small guide's cuisines is its own: the cuisine column was taken for ids; "$$" was a kind, and so
    were the "yes" and "no" of `vegetarian_friendly`."""
    path = tmp_path / "restaurants.csv"
    path.write_text(
        "name,cuisine,neighborhood,price,vegetarian_friendly,description\n"
        "Casa Luna,mexican,Mission,$$,yes,Handmade tortillas and slow-braised carnitas.\n"
        "Golden Lotus,chinese,Chinatown,$,yes,Dim sum carts all morning.\n"
        "Smoke & Barrel,barbecue,Dogpatch,$$$,no,Texas-style brisket smoked overnight.\n"
    )
    loaded = load_catalog(path)
    schema = loaded.schema
    assert (schema.id, schema.facets) == ("name", ("cuisine", "neighborhood", "vegetarian_friendly"))
    assert Numeric("price", Role.PRICE) in schema.numerics
    luna, _, smoke = loaded.items
    assert luna.genres == ["mexican", "mission", "vegetarian"] and luna.meta["price"] == 2
    assert smoke.genres == ["barbecue", "dogpatch"]  # a "no" is no kind
    # said back as the guide writes it: a why read "price 2"
    assert schema.levels == (("price", "$"),) and CatalogSchema.from_json(schema.to_json()) == schema
    assert number_facts(luna.meta, schema) == ["$$"]


def test_values_decide_when_names_disagree():
    data = rows()
    for n, row in enumerate(data):
        row["avg_rating"] = 250 + n  # no rating scale holds these
        row["vintage"] = 1.5 + n  # no year
        row["min_players"] = "two"  # a range end of words is no number: its pair is a plain number
    schema = infer_schema(data)
    roles = {n.column: n.role for n in schema.numerics}
    assert roles["avg_rating"] is Role.NUMBER and roles["vintage"] is Role.NUMBER
    assert "min_players" not in roles and roles["max_players"] is Role.NUMBER and schema.ranges == ()
    assert infer_schema([{**r, "minutes": 5} for r in data]).column_for(Role.DURATION) == "runtime"  # first wins


def test_corrections_win_and_unknown_columns_name_the_flag():
    fixed = ColumnMap(facets=("rating",), numeric=(("weight", Role.NUMBER), ("votes", Role.PRICE)), text=("label",))
    schema = infer_schema(rows(), fixed)
    roles = {n.column: n.role for n in schema.numerics}
    assert "rating" in schema.facets and roles["weight"] is Role.NUMBER and roles["votes"] is Role.PRICE
    assert schema.text == ("label",)
    with pytest.raises(ValueError, match="--facet 'genre': no such column; the file has: isbn, label"):
        infer_schema(rows(), ColumnMap(facets=("genre",)))
    assert parse_numeric("max_players:max") == ("max_players", Role.MAX)
    with pytest.raises(ValueError, match="ROLE one of min, max, duration"):
        parse_numeric("weight")
    assert CatalogSchema.from_json(schema.to_json()) == schema
    assert ColumnMap.from_json(fixed.to_json()) == fixed


def test_no_id_or_title_to_be_found_says_which_flag(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b\nsame,x\nsame,x\n")
    with pytest.raises(CatalogError, match="no id column found.*pass --id COLUMN"):
        load_catalog(path)
    path.write_text("code,n\nA1,1\nA2,2\n")
    with pytest.raises(CatalogError, match="no title column found.*pass --title COLUMN"):
        load_catalog(path)


def test_the_test_catalogs_schemas():
    games = load_catalog(CATALOGS / "boardgames.csv")
    assert games.schema.facets == ("mechanics",) and games.schema.ranges[0].noun == "players"
    assert games.schema.column_for(Role.DURATION) == "minutes" and games.schema.column_for(Role.COMPLEXITY) == "weight"
    pandemic = next(i for i in games.items if i.title == "Pandemic")
    assert pandemic.genres == ["cooperative"] and pandemic.meta["min_players"] == 2
    wines = load_catalog(CATALOGS / "wines.jsonl").schema
    assert (wines.id, wines.title, wines.facets) == ("wine_no", "label", ("grape", "region", "colour"))
    assert Numeric("vintage", Role.YEAR) in wines.numerics and "critic_score" in wines.text  # words, no score
    gadgets = load_catalog(CATALOGS / "gadgets.csv")
    assert {n.role for n in gadgets.schema.numerics} == {Role.PRICE, Role.RATING}
    assert gadgets.items[0].genres == [
        *gadgets.items[0].meta["category"],
        *gadgets.items[0].meta["maker"],
    ]  # kind first
    assert load_catalog(CATALOGS / "books.csv").schema.facets == ("genres",)  # tags are free words, no facet


@pytest.mark.parametrize(
    ("name", "noun"),
    [("wines", "wine"), ("lessons", "lesson"), ("my-stories", "story"), ("boxes", "box"), ("data", "item")],
)
def test_the_noun_comes_from_a_plural_file_name(name, noun):
    assert infer_noun(name, [], plural_of=name) == noun


def test_corrections_are_kept_with_the_collection(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    path = tmp_path / "wines.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows()) + "\n")
    columns = ColumnMap(facets=("rating",))
    loaded = load_catalog(path, columns)
    ingest(store, fake_encoder, "wines", loaded.items, schema=loaded.schema, columns=columns, source="wines")
    assert store.columns("wines") == columns and store.head("wines").schema == loaded.schema
    assert store.load("wines").catalog_schema() == loaded.schema
    again = ColumnMap(numeric=(("weight", Role.NUMBER),)).merged_over(store.columns("wines"))
    assert again.facets == ("rating",) and dict(again.numeric) == {"weight": Role.NUMBER}


def test_catalog_show_before_and_after_an_ingest(tmp_path):
    runner = CliRunner()
    demo = runner.invoke(main, ["catalog", "show"])
    assert demo.exit_code == 0 and "facets: genres" in demo.output and "not ingested yet" in demo.output
    missing = runner.invoke(main, ["catalog", "show", "nope"])
    assert missing.exit_code == 2 and "no catalog named 'nope'" in missing.output
