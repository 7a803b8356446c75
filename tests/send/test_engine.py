"""The engine's client-side rate limit: even spacing, no bursts, pauses for everyone."""

from __future__ import annotations

import threading
import time

from newsletter.send.engine import RateLimiter


def test_calls_are_spaced_evenly_across_threads_from_the_first_call():
    limiter = RateLimiter(200.0)  # one call every 5 ms
    starts: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    began = time.monotonic()
    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert starts[0] - began < 0.005 * 4  # the clock starts at the first call: no wait
    assert starts[-1] - starts[0] >= 39 * 0.005 * 0.99  # 40 calls: never a burst


def test_pause_holds_back_every_later_call():
    limiter = RateLimiter(None)  # unlimited, yet a provider's Retry-After still counts
    limiter.acquire()
    limiter.pause(0.2)
    began = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - began >= 0.19
