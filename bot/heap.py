"""Garbage collection kept out of the way of acknowledgements.

CPython's full collection walks every tracked object. Once the bot is connected, most of its objects
live as long as the process (modules, discord.py's caches, the settings, compiled patterns): a few
hundred thousand, which made each full collection a pause of 30-40 ms, long enough to show in the
acknowledgement of every interaction arriving meanwhile. `settle` moves everything alive at that
point out of the collector's reach (`gc.freeze`); later collections walk only what came after.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> None:
    """Collect once, then freeze what survives; called when the bot is first ready."""
    gc.collect()
    gc.freeze()
    log.debug("heap settled: %d objects frozen", gc.get_freeze_count())
