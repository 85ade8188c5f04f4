"""A loopback feed farm for benchmarks: N feeds x M items, served by a separate process.

`python bench/feedfarm.py PORT_FILE --feeds 1000 --items 30` writes its port to PORT_FILE.
POST /mode/etag: feeds carry an ETag and answer 304 to a matching If-None-Match.
POST /mode/plain: feeds answer 200 with the same bytes and no validators.
POST /advance: every feed gains one new item at its top (and drops its oldest).
"""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

from aiohttp import web

WORDS = (
    "government minister trade talks market prices growers export shipment agreement "
    "ministry council province federal officials said week statement report analysts "
    "economy investment energy port rail policy budget election court union"
).split()
TOPICS = [
    "China imposes tariff on Canadian canola oil",
    "Canadian frigate transits the Taiwan Strait",
    "Canada and Japan sign critical minerals agreement",
    "Carney meets Xi as Canada-China relations thaw",
]


def make_feed(index: int, items: int, rng: random.Random, first: int = 0) -> bytes:
    """One RSS 2.0 feed of items `first` to `first + items` (newest first); about one
    item in fifty is on a watchlist topic."""
    entries = []
    for j in range(first + items - 1, first - 1, -1):
        if rng.random() < 0.02:
            title = rng.choice(TOPICS)
        else:
            title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
        summary = " ".join(rng.choice(WORDS) for _ in range(45))
        entries.append(
            f"<item><title>{title}</title><link>https://farm.example.test/{index}/{j}</link>"
            f'<guid isPermaLink="false">farm-{index}-{j}</guid>'
            f"<pubDate>Mon, 23 Nov 2026 0{j % 10}:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;{summary}&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Farm feed {index}</title><link>https://farm.example.test/{index}/</link>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file", type=Path)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(42)
    bodies = [make_feed(i, args.items, rng) for i in range(args.feeds)]
    state = {"mode": "etag"}
    generation = [0]

    async def feed(request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        etag = f'"farm-{index}-{generation[0]}"'
        if state["mode"] == "etag":
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304)
            return web.Response(
                body=bodies[index], headers={"ETag": etag}, content_type="application/rss+xml"
            )
        return web.Response(body=bodies[index], content_type="application/rss+xml")

    async def mode(request: web.Request) -> web.Response:
        state["mode"] = request.match_info["mode"]
        return web.Response(text=state["mode"])

    async def advance(_request: web.Request) -> web.Response:
        generation[0] += 1
        bodies[:] = [make_feed(i, args.items, rng, generation[0]) for i in range(args.feeds)]
        return web.Response(text=str(generation[0]))

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/feed/{index}.xml", feed)
        app.router.add_post("/mode/{mode}", mode)
        app.router.add_post("/advance", advance)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port = runner.addresses[0][1]
        args.port_file.write_text(str(port))
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
