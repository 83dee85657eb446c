"""`python -m recochat.benchmarks NAME [options]` (also `recochat bench NAME`)."""

import sys

BENCHMARKS = {
    "llm": "recochat.benchmarks.llm_replies",
    "redial": "recochat.benchmarks.redial",
    "encoder": "recochat.benchmarks.encoder_tuning",
    "scale": "recochat.benchmarks.scale",
    "scale-hnsw": "recochat.benchmarks.scale_hnsw",
    "scale-out": "recochat.benchmarks.scale_out",
    "simulated": "recochat.benchmarks.simulated",
    "inspired": "recochat.benchmarks.inspired",
    "reliability": "recochat.benchmarks.reliability",
    "readthrough": "recochat.benchmarks.readthrough",
    "understand": "recochat.benchmarks.understand_scale",
    "ranker-cost": "recochat.benchmarks.ranker_cost",
    "taste": "recochat.benchmarks.taste",
    "exposure": "recochat.benchmarks.exposure",
    "serve": "recochat.benchmarks.serve",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m recochat.benchmarks {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
