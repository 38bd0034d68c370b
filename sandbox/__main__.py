"""`python -m sandbox` plays the demo session (the same as `python -m sandbox.demo`)."""

from __future__ import annotations

import asyncio
import sys

from .demo import main

sys.exit(asyncio.run(main()))
