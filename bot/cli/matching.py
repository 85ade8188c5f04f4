"""`wirewatch match`, `eval` and `backtest`: the watchlists tried on text, examples and
stored items.

What they print holds no control or invisible character (`bot.cli.reports` cleans each
field); `match --jsonl` keeps the text exact but writes every such character as a JSON
`\\u` escape, so its output is the same data and still inert on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from bot.cli.jsonl import inert_json
from bot.cli.reports import evidence_line, print_evaluation, print_reports
from bot.core.clock import utcnow
from bot.core.config import Settings
from bot.core.errors import UsageError
from bot.core.models import Report, StoredItem
from bot.matching.evaluation import SPLITS, evaluate, load_examples
from bot.matching.matcher import Matcher
from bot.matching.watchlists import Watchlist, load_watchlist, watchlist_folders
from bot.service.app import open_app


def match(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Which watchlists match some text (or each JSON line of stdin), with evidence."""
    matcher = Matcher(watchlists)
    if args.jsonl:
        for line in sys.stdin:
            sys.stdout.write(inert_json(match_json_line(matcher, line)) + "\n")
            sys.stdout.flush()
        return 0
    title = " ".join(args.text)
    if not title and not args.summary:
        raise UsageError(
            'match: give the text to match, e.g. wirewatch match "China lifts canola duties"'
        )
    console = Console(highlight=False, soft_wrap=True)
    verdicts = sorted(matcher.judge(title, args.summary), key=lambda v: -v.score)
    matched = [v for v in verdicts if v.matched]
    for verdict in matched:
        flag = " ALERT" if verdict.alert else ""
        console.print(Text(f"{verdict.watchlist.id}: score {verdict.score:g}{flag}", style="bold"))
        console.print(Text(f"  matched {evidence_line(verdict.evidence)}"))
    if not matched:
        console.print("no watchlist matches")
    for verdict in verdicts:
        if not verdict.matched:
            console.print(
                Text(f"{verdict.watchlist.id}: no match ({verdict.shortfall()})", style="dim")
            )
    return 0


def match_json_line(matcher: Matcher, line: str) -> dict[str, Any]:
    """One `match --jsonl` output object for one input line; bad input gives an `error`."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "matches": [], "error": f"invalid JSON: {exc.msg}"}
    if not isinstance(obj, dict):
        return {"id": None, "matches": [], "error": "expected a JSON object"}
    item_id = obj.get("id")
    title, summary = obj.get("title", ""), obj.get("summary", "")
    if not isinstance(title, str) or not isinstance(summary, str):
        return {"id": item_id, "matches": [], "error": "title and summary must be strings"}
    matches = [
        {
            "watchlist": m.watchlist,
            "score": m.score,
            "alert": m.alert,
            "evidence": [
                {
                    "group": e.group,
                    "alias": e.alias,
                    "field": e.field,
                    "text": e.text,
                    "similarity": e.similarity,
                }
                for e in m.evidence
            ],
        }
        for m in matcher.match(title, summary)
    ]
    return {"id": item_id, "matches": matches}


def evaluate_watchlists(
    args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]
) -> int:
    """Precision, recall and F1 per watchlist (and per language) on labelled examples, with
    what each miss lacked; exit 1 below `--min-f1` or `--min-recall`."""
    files = list(args.files)
    folders = watchlist_folders(settings.watchlists_dir, bundled=settings.bundled_watchlists)
    if args.split is not None:
        if files:
            raise UsageError("eval: give example files or --split, not both")
        parts = SPLITS if args.split == "all" else (args.split,)
        found = [f / "examples" / "headlines" / f"{part}.jsonl" for f in folders for part in parts]
        files = [f for f in found if f.is_file()]
        if not files:
            raise UsageError(
                "eval: no labelled headlines (examples/headlines/) beside the watchlists"
            )
    elif not files:
        files = [f for folder in folders for f in sorted((folder / "examples").glob("*.jsonl"))]
        if not files:
            where = " or ".join(str(folder / "examples") for folder in folders)
            raise UsageError(f"eval: no example files given and none in {where}")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"eval: no such file: {', '.join(missing)}")
    examples = load_examples(files)
    if args.batch is not None:
        batches = sorted({e.batch for e in examples})
        examples = [e for e in examples if e.batch == args.batch]
        if not examples:
            listed = ", ".join(map(str, batches))
            have = f"all batch {listed}" if len(batches) == 1 else f"in batches {listed}"
            hint = "" if args.split is not None else "; the labelled headlines (--split) have more"
            raise UsageError(f"eval: no examples of batch {args.batch}: they are {have}{hint}")
    result = evaluate(Matcher(watchlists), examples)
    console = Console(highlight=False, soft_wrap=True)
    print_evaluation(console, result, show_misses=not args.quiet)
    failed = False
    for measure, minimum in (("F1", args.min_f1), ("recall", args.min_recall)):
        values = {s.name: s.f1 if measure == "F1" else s.recall for s in result.scores}
        low = {name: v for name, v in values.items() if minimum is not None and v < minimum}
        if low:
            names = ", ".join(f"{name} ({v:.3f})" for name, v in low.items())
            print(f"{measure} below {minimum}: {names}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def backtest(args: argparse.Namespace, settings: Settings, watchlists: list[Watchlist]) -> int:
    """Run a watchlist (id or file) over stored items: what it would have reported."""
    candidate = Path(args.watchlist)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        tested = load_watchlist(candidate)
    else:
        known = {w.id: w for w in watchlists}
        if args.watchlist not in known:
            raise UsageError(
                f"backtest: no watchlist {args.watchlist!r}; known: {', '.join(known)}"
                " (or give the path of a watchlist file)"
            )
        tested = known[args.watchlist]
    if args.days <= 0:
        raise UsageError("backtest: --days must be positive")
    since = utcnow() - timedelta(days=args.days)

    async def load() -> tuple[list[StoredItem], set[int]]:
        async with open_app(settings, watchlists) as app:
            stored = await app.store.items_since(since)
            return stored, await app.store.matched_item_ids(tested.id, since)

    stored, before = asyncio.run(load())
    matcher = Matcher([tested])
    matched = [(s, m) for s in stored for m in matcher.match_item(s.item)]
    reports = [Report(s.item, m) for s, m in matched]
    now_matched = {s.id for s, _ in matched}  # by row id: item keys repeat across feeds
    console = Console(highlight=False, soft_wrap=True)
    print_reports(console, reports, [tested])
    alerts = sum(1 for r in reports if r.match.alert)
    console.print(
        f"backtest {tested.id}: {len(reports)} of {len(stored)} items stored in the last "
        f"{args.days:g} days would match ({alerts} as alerts); compared with the stored "
        f"matches: {len(now_matched - before)} new, {len(before - now_matched)} no longer matched",
        markup=False,
    )
    return 0
