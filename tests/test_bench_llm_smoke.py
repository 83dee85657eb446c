"""A tiny run of the LLM-reply benchmark's harness (the full run needs minutes of generation)."""

from recochat.benchmarks import llm_replies


def test_llm_bench_smoke_times_items_and_counts_every_turn():
    scripts = [["hi", "something funny but smart, no horror, I loved Hot Fuzz"], ["what is #1 about?", "a thriller"]]
    result = llm_replies.run(writer="template", conversations=scripts, concurrency=2)

    assert result["turns"] == 4 and result["concurrency"] == 2
    assert sorted(row["text"] for row in result["rows"]) == sorted(t for s in scripts for t in s)
    recommend = next(r for r in result["rows"] if r["text"].startswith("something funny"))
    assert recommend["kind"] == "recommend" and recommend["items"]
    # the template writer is not an LLM: no turn may be counted as LLM output
    assert result["llm_turns"] == 0 and result["first_sentence_ms_p50"] is None
    assert all(0 < row["items_ms"] <= row["total_ms"] for row in result["rows"])
    assert result["items_ms_p95"] >= result["items_ms_p50"] > 0


def test_replaced_replies_are_counted_by_what_happened():
    rows = [
        {"status": "replaced", "cause": "too_slow", "attempts": 1, "items_ms": 1.0, "total_ms": 2.0},
        {"status": "replaced", "cause": "no_time_to_retry", "attempts": 5, "items_ms": 1.0, "total_ms": 2.0},
        {"status": "ok", "cause": "cut_short", "attempts": 1, "items_ms": 1.0, "total_ms": 2.0, "first_sentence_ms": 9},
        {"status": "ok", "cause": None, "attempts": 1, "items_ms": 1.0, "total_ms": 2.0, "first_sentence_ms": 5},
    ]
    summary = llm_replies.summarize(rows)
    assert summary["replaced_because"] == {"too_slow": 1, "no_time_to_retry": 1} and summary["cut_short"] == 1
    assert summary["share_model_prose"] == 0.5 and summary["attempts_mean"] == 2.0


def test_compare_runs_the_configuration_before_and_after_back_to_back(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(llm_replies, "run", lambda *a, **kw: seen.append(kw) or {"rows": [], **kw})
    assert (
        llm_replies.main(["--writer", "template", "--concurrency", "1", "--compare", "--out", str(tmp_path / "o")]) == 0
    )
    assert [(kw["prompt_cache"], kw["retry_pace"]) for kw in seen] == [(False, False), (True, True)]
