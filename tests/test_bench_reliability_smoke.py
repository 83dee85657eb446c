"""A tiny run of the reliability benchmark over the tiny catalog: checks the result's shape and
the properties that hold at any size (no acknowledged event lost, every hostile case handled)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_catalog

from recochat.benchmarks import reliability
from recochat.retrieval.encoder import Encoder

pytestmark = pytest.mark.slow


def test_reliability_smoke(tmp_path: Path, encoder: Encoder) -> None:
    out = tmp_path / "results" / "reliability.json"
    result = reliability.run(
        **reliability.SMOKE,
        out=out,
        home=tmp_path / "home",
        encoder=encoder,
        base=write_catalog(tmp_path / "tiny.jsonl"),
    )
    assert json.loads(out.read_text())["kill9"] == result["kill9"]
    kill = result["kill9"]
    assert len(kill["rounds"]) == 2 and kill["acknowledged"] >= 16
    assert kill["missing"] == 0 and kill["integrity_ok"]
    crowd = result["crowd"]
    assert crowd["turns"] == 18 and crowd["errors"] == 0 and crowd["isolation_violations"] == 0
    assert crowd["turn_ms"]["p95"] > 0 and crowd["turns_per_s"] > 0
    adversarial = result["adversarial"]
    assert adversarial["cases"] >= 30 and adversarial["share_handled"] == 1.0, adversarial["failed"]
    assert result["stress"]["status"] == "run" and result["stress"]["violations"] == 0
    assert (
        result["big_message"]["max_s"] > 0
        and result["understand_2000_chars_ms"]["n"] == reliability.SMOKE["understand_count"]
    )
    assert "kill -9" in reliability.summary(result)
