"""The demo catalog's crowd prior, rebuilt from ReDial: `python -m recochat.bot.training.crowd_prior`.

Why: a fresh install has no users, so "people who liked X also liked Y" has nothing to say; ReDial's seekers
do. Their conversations in `redial-train/` (ReDial's train and validation splits, 2,270 distinct) go through
the very import `recochat import conversations --format redial` runs (read, linked to the demo's titles by
the chat's title index, a conversation shared by two files counted once), and only the counts and pairs
over demo titles are written (`profiles.crowd.prior_json`): no conversation text, no ids. Nothing of ReDial's
test split is read. ReDial is CC BY 4.0; the file says so and names the source.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recochat.profiles.crowd import crowd_model, prior_json
from recochat.retrieval.catalog import demo_catalog_path, demo_prior_path, load_catalog
from recochat.retrieval.titles import TitleIndex

from ..crowd_import import ImportReport, Linker, link_all, read_conversations
from ..settings import DEMO_COLLECTION, DataSettings
from .redial import TRAIN_FILES

ABOUT = {
    "source": "ReDial (Li et al., 2018, 'Towards Deep Conversational Recommendations'), https://redialdata.github.io/website/",
    "licence": "CC BY 4.0, http://creativecommons.org/licenses/by/4.0/",
    "attribution": "Counts derived from the ReDial dataset by Raymond Li, Samira Kahou, Hannes Schulz, Vincent "
    "Michalski, Laurent Charlin and Chris Pal, published under CC BY 4.0; changed: only how often the "
    "demo catalog's titles were liked, alone and together, is kept (no conversation text, no ids).",
    "how": "each ReDial train/validation conversation is one session: the movies it @mentions, in order, less "
    "those the seeker said they did not like, linked to the demo titles; counts = conversations liking a title, "
    "pairs = conversations liking both (recochat import conversations --format redial, then counts only)",
}


def build_prior(data: Path) -> tuple[str, list[ImportReport]]:
    """The prior file's text and the import report of each ReDial file."""
    items = load_catalog(demo_catalog_path()).items
    link = Linker(TitleIndex(items))
    conversations, reports = [], []
    for name in TRAIN_FILES:
        path = data / "redial-train" / name
        said, skipped = read_conversations(path, "redial")
        report = ImportReport(name, DEMO_COLLECTION, conversations=len(said), skipped=skipped)
        linked = link_all(said, link, report)
        conversations += linked
        _, pairs = crowd_model(linked).snapshot()
        report.pairs = sum(len(row) for row in pairs.values()) // 2
        reports.append(report)
    model = crowd_model(conversations)
    distinct = len({(c.key, c.digest) for c in conversations})
    about = {
        **ABOUT,
        "catalog": DEMO_COLLECTION,
        "conversations": distinct,
        "files": [f"redial-train/{f}" for f in TRAIN_FILES],
    }
    return prior_json(model, about), reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DataSettings().data, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=demo_prior_path(), help="the prior file to write")
    args = parser.parse_args(argv)
    text, reports = build_prior(args.data)
    for report in reports:
        print("\n".join(report.lines()))
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
