"""The one way the tests wait for something to happen: poll a condition until it holds, with
a deadline. A fixed sleep is either too short on a loaded machine or too long everywhere else;
a sleep stays only where the waiting is the behaviour under test (a client that drips bytes,
a service that hangs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    ignoring: tuple[type[Exception], ...] = (),
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """Call `condition` every `interval` seconds until it returns something true, and return
    that. An exception in `ignoring` counts as "not yet". After `timeout` seconds the test
    fails with `message` (a callable is asked then, for what it saw)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except ignoring:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s: {message() if callable(message) else message}")
        time.sleep(interval)


async def wait_for_async(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """`wait_for` inside a running event loop: the loop keeps running other tasks meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s: {message() if callable(message) else message}")
        await asyncio.sleep(interval)
    return value
