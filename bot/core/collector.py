"""The cycle collector, tuned for a process that runs for months and keeps what it builds."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (Python: 700)


def settle_after_startup() -> None:
    """Collect once, then exempt everything alive from the collector and collect the young
    generation less often.

    Startup objects (modules, settings, watchlists, matcher automata) live as long as the
    process, and each full collection would walk them again; the items of a busy cycle
    live on too, and a young generation collected every 700 allocations would walk each
    of them several times. Frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
