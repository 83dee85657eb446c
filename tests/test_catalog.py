"""Catalog loading and the errors a user gets for bad files."""

import json

import pytest

from recochat.retrieval.catalog import CatalogError, ColumnMap, load_catalog


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_autodetects_columns_and_lists(tmp_path):
    path = write(
        tmp_path / "books.csv",
        "book_id,title,author,year,genres,summary\nb1,Dune,Frank Herbert,1965,science fiction|adventure,Sand and spice.\n",
    )
    item = load_catalog(path).items[0]
    assert (item.id, item.title, item.year) == ("b1", "Dune", 1965)
    assert item.genres == ["science fiction", "adventure"]
    assert "Sand and spice." in item.text and item.text.startswith("Dune (1965)")


def test_year_is_read_from_title_when_no_year_column(tmp_path):
    path = write(
        tmp_path / "m.jsonl",
        json.dumps({"movieId": "7", "movieName": "Heat (1995)", "plot": "Cops and robbers."}) + "\n",
    )
    item = load_catalog(path).items[0]
    assert (item.title, item.year) == ("Heat", 1995)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="no such catalog file"):
        load_catalog(tmp_path / "nope.csv")


def test_unknown_column_names_the_columns(tmp_path):
    path = write(tmp_path / "c.csv", "id,title,description\n1,A,text\n")
    with pytest.raises(CatalogError, match=r"--text 'plot': no such column; the file has: id, title, description"):
        load_catalog(path, ColumnMap(text=("plot",)))


def test_duplicate_and_empty_ids_and_empty_text_name_the_rows(tmp_path):
    path = write(tmp_path / "c.csv", "id,title,description\n1,A,text\n1,B,text\n,C,text\n4,D,\n")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    message = str(error.value)
    assert "row 3: duplicate id '1' (first at row 2)" in message
    assert "row 4: empty id" in message
    assert "row 5: empty text" in message and "'4'" in message
    assert "nothing was ingested" in message


def test_skip_bad_keeps_good_rows_and_lists_skipped(tmp_path):
    path = write(tmp_path / "c.csv", "id,title,description\n1,A,text\n1,B,text\n")
    result = load_catalog(path, skip_bad=True)
    assert [i.id for i in result.items] == ["1"]
    assert result.skipped == ["row 3: duplicate id '1' (first at row 2)"]


def test_bad_jsonl_line_is_named(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"id": "1", "title": "A", "plot": "x"}\n{oops\n')
    with pytest.raises(CatalogError, match="line 2: not valid JSON"):
        load_catalog(path)


def test_content_hash_changes_with_content(tmp_path):
    a = load_catalog(write(tmp_path / "a.csv", "id,title,description\n1,A,one\n")).items[0]
    b = load_catalog(write(tmp_path / "b.csv", "id,title,description\n1,A,two\n")).items[0]
    assert a.content_hash() != b.content_hash()


def test_title_year_parser_is_the_inverse_of_the_formatter() -> None:
    from recochat.retrieval.catalog import split_title_year, title_label

    assert split_title_year("Heat (1995)") == ("Heat", 1995)
    assert split_title_year(title_label("2001: A Space Odyssey", 1968)) == ("2001: A Space Odyssey", 1968)
    assert split_title_year("  Up ") == ("Up", None)
    assert split_title_year("Heat (1995) remastered") == ("Heat (1995) remastered", None)


def test_people_facts_name_makers_then_the_first_three_stars() -> None:
    from recochat.retrieval.catalog import people_facts

    meta = {"director": ["Lana Wachowski", "Lilly Wachowski"], "author": "A. Writer", "stars": ["A", "B", "C", "D"]}
    assert people_facts(meta) == ["director: Lana Wachowski, Lilly Wachowski", "author: A. Writer", "with A, B, C"]
    assert people_facts({"genres": ["comedy"]}) == []
