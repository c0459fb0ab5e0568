"""Cyclic garbage collection for the long-running processes (the API server, the workers).

Every event the observer handles makes a dozen short-lived containers (its parsed dict, the
message, event and record tuples), freed by reference counting, never in cycles. At the
default threshold (700) they set off a young collection every ~70 events, and the objects
a batch holds on to meanwhile are promoted and traversed again by the older generations,
whose full collections also walk every object imported at start-up (bench/README.md says
how much of a worker's CPU per event went to that). So: freeze what start-up made (it lives as
long as the process anyway) and collect the young generation every YOUNG_THRESHOLD
allocations instead. Garbage in cycles is still collected, a little later.
"""

from __future__ import annotations

import atexit
import gc

YOUNG_THRESHOLD = 50_000


def tune_for_throughput() -> None:
    """Call once start-up is done (adapters built, app created), before serving."""
    gc.collect()  # what start-up left behind goes now, not into the permanent generation
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    # At exit the frozen objects go back to the collector, so that extension modules'
    # finalisers run as they would (nanobind, used by duckdb, reports "leaks" otherwise).
    atexit.register(gc.unfreeze)
