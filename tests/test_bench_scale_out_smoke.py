"""`recochat bench scale-out --smoke`: K = 1 and 2 real recochat processes on a throwaway
PostgreSQL cluster and a `chroma run` server, a 100-item catalog, the hashing encoder, and the
kill -9 round. Part of the default run (about 15 s): the numbers are not checked, the plumbing and
the no-loss guarantee are."""

from __future__ import annotations

import json
from pathlib import Path

from recochat.benchmarks import scale_out


def test_scale_out_smoke_runs_k1_k2_and_loses_nothing_on_kill(tmp_path: Path):
    out = tmp_path / "scale_out.json"
    assert scale_out.main(["--smoke", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    plan = scale_out.SMOKE
    assert result["catalog"]["items"] == plan.size
    rounds = {(r["k"], r["kill"]): r for r in result["rounds"]}
    assert set(rounds) == {(1, False), (2, False), (2, True)}
    for (_k, kill), r in rounds.items():
        assert r["error_count"] == 0, r["errors"]
        assert r["lost"]["turns"] == r["lost"]["feedback"] == 0
        assert r["survivors_finished"]
        if not kill:
            assert r["turns"] == plan.users * plan.turns
            assert r["acked_steps"] == r["planned_steps"]
            assert r["turns_per_s"] > 0 and r["turn_ms"]["p95"] >= r["turn_ms"]["p50"] > 0
    killed = rounds[(2, True)]
    assert killed["killed_after_acks"] is not None
    assert killed["acked_steps"][0] < killed["planned_steps"][0]  # it died mid-load
    assert set(result["ratios"]) == {"K=2 vs K=1"}
    assert "| K | round | turns/s" in scale_out.table(result)
