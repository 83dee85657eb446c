"""Title normalization at start: a 1M catalog's titles are normalized in one pass over their joined text."""

from recochat.retrieval.titles import normalize, normalize_all


def test_normalizing_all_titles_at_once_equals_one_at_a_time():
    titles = ["Schindler's List", "Amélie & Co.", "  Up!! ", "", "ΣΙΣ", "İstanbul", "½ half", "ﬁne", "Ærø – Ōkami"]
    assert normalize_all(titles) == [normalize(t) for t in titles]
    assert normalize_all([*titles, "two\nlines"]) == [normalize(t) for t in [*titles, "two\nlines"]]
    assert normalize_all(["plain", "ascii"]) == ["plain", "ascii"]
    assert normalize_all([]) == []
