"""Imported first by each API entry: no cyclic garbage collection while the entry imports.

Importing an entry creates the objects of some 700 modules and almost no garbage, yet the
collector's passes over them, full ones included, took 30 to 40 ms of CPU of each cold start
(a fifth of the whole). `imported()` turns collection back on once the entry is imported, after
`gc.freeze()` has moved everything loaded so far out of the collector's sight: later passes, on
warm requests too, never scan it again. A process that had collection off keeps it off.
"""

import gc

_collecting = gc.isenabled()
gc.disable()


def imported() -> None:
    """The entry is imported: collect again, leaving what is loaded now out of every pass."""
    gc.freeze()
    if _collecting:
        gc.enable()
