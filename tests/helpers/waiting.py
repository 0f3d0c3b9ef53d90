"""Waiting on a condition with a deadline, never a fixed sleep before an assertion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy and return that value.

    Raises AssertionError naming ``what`` when ``timeout`` seconds pass first. A condition that
    sees the wait is hopeless (the process died) may raise its own AssertionError to end it early.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
