"""How a Lambda entry imports: without the cyclic garbage collector, once per process.

Importing an entry (an API's handler module, the worker, the relay, the steps) creates the
objects of some 700 modules and next to no garbage, yet the collector's passes over them (full
ones included) took 30 to 40 ms of CPU of each cold start, about a fifth of it
(docs/performance.md). `importing()` turns collection off around the entry's
imports, then moves everything they loaded into the permanent generation (`gc.freeze`), so that
no later pass, on warm requests either, scans it again, and turns collection back on.

Only the first entry imported in a process does this: that is Lambda's cold start. A process
that imports entries again (the local stack's next container, a test) collects as usual.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_first = True


@contextmanager
def importing() -> Iterator[None]:
    """Around an entry's imports: no collection inside, what they loaded frozen after."""
    global _first
    if not _first:
        yield
        return
    _first = False
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:  # a process that had collection off keeps it off
            gc.enable()
