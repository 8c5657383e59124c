"""Engine calls that must end: a hung engine becomes EngineTimeout, never a row stuck in a busy state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from desktop.core.errors import EngineTimeout

T = TypeVar("T")


async def bounded(operation: Awaitable[T], seconds: float, who: str = "the engine") -> T:
    try:
        async with asyncio.timeout(seconds):
            return await operation
    except TimeoutError:
        raise EngineTimeout(f"{who} did not answer within {seconds:.0f} s") from None
