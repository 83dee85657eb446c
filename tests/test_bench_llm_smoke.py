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
