"""A tiny run of the LLM-reply benchmark's harness (the full run needs minutes of generation)."""

import json

from recochat.benchmarks import llm_replies


def test_llm_bench_smoke_counts_every_turn(tmp_path):
    out = tmp_path / "llm.json"
    script = [["hi", "something funny but smart, no horror, I loved Hot Fuzz", "what is #1 about?"]]
    result = llm_replies.run(writer="template", out=out, conversations=script)

    assert json.loads(out.read_text())["turns"] == result["turns"] == 3
    assert [row["text"] for row in result["rows"]] == script[0]
    assert result["rows"][1]["kind"] == "recommend"
    # the template writer is not an LLM: no turn may be counted as LLM output
    assert result["llm_turns"] == 0 and result["median_first_chunk_ms"] is None
    assert all(row["first_chunk_ms"] > 0 for row in result["rows"])
