"""The one split of the labelled headlines into a tuning part and a held-out part.

    python bench/split_headlines.py           # rewrite tuning.jsonl and held-out.jsonl
    python bench/split_headlines.py --check   # exit 1 when the files are not that split

Reads both parts of `watchlists/examples/headlines/`, puts the lines together and splits
them again with `bot.matching.evaluation.split_lines` (each batch by itself, stratified by
label set and language, fixed by a seed): the same lines give the same parts, in the same
order. Give new headlines the next `"batch"` number, append them to either file, then run
it once and commit the split, before tuning on the new tuning part.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.matching.evaluation import HELD_OUT_SHARE, SPLIT_SEED, split_lines
from bot.matching.watchlists import BUNDLED_DIR

FOLDER = BUNDLED_DIR / "examples" / "headlines"


def regenerate(folder: Path = FOLDER) -> dict[Path, str]:
    """The text each part's file should hold."""
    lines: list[str] = []
    for name in ("tuning", "held-out"):
        path = folder / f"{name}.jsonl"
        if path.exists():
            lines += path.read_text(encoding="utf-8").splitlines()
    tuning, held_out = split_lines(lines, SPLIT_SEED, HELD_OUT_SHARE)
    return {
        folder / "tuning.jsonl": "".join(f"{line}\n" for line in tuning),
        folder / "held-out.jsonl": "".join(f"{line}\n" for line in held_out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the files")
    parser.add_argument("--folder", type=Path, default=FOLDER)
    args = parser.parse_args()
    wanted = regenerate(args.folder)
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path}: not the split of the labelled headlines", file=sys.stderr)
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
    print(
        f"tuning: {wanted[args.folder / 'tuning.jsonl'].count(chr(10))} lines; "
        f"held-out: {wanted[args.folder / 'held-out.jsonl'].count(chr(10))} lines"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
