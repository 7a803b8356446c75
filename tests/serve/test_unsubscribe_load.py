"""`newsletter serve` under load, tampering and kill -9: every 200 is kept, nothing else is."""

from __future__ import annotations

import asyncio
import concurrent.futures
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.send.unsubscribe import sign
from tests.serve.servekit import (
    LIST_ID,
    SECRET,
    Server,
    count_suppressed,
    free_port,
    suppressed,
)

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Seconds a request may wait for its answer. Generous: other test runs share the machine,
# and a thousand durable commits queue behind 8 server threads; with httpx's default (5 s)
# a slow answer failed the test, or went uncounted. Every loop below is still bounded.
PATIENCE = 600.0


def link(server: Server, address: str, **change: str) -> str:
    query = {"list": LIST_ID, "email": address, "token": sign(SECRET, LIST_ID, address)}
    return f"{server.url}/unsubscribe/?{urlencode({**query, **change})}"


def test_a_thousand_concurrent_one_click_posts_are_all_recorded(served):
    addresses = [f"reader{i}@example.org" for i in range(1000)]

    async def post_all() -> list[int]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=PATIENCE) as client:
            answers = await asyncio.gather(
                *(client.post(link(served, a), content=ONE_CLICK, headers=FORM) for a in addresses)
            )
        return [a.status_code for a in answers]

    # Its own thread: a session's Playwright may already run an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        statuses = pool.submit(asyncio.run, post_all()).result()
    assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
    recorded = suppressed(served.root)
    assert set(recorded) == set(addresses)
    assert {e["source"] for e in recorded.values()} == {"one-click"}


def test_kill_9_right_after_a_200_loses_nothing(served):
    addresses = [f"killed{i}@example.org" for i in range(200)]
    answered: list[str] = []

    def post(address: str) -> tuple[str, int | None]:
        try:
            answer = httpx.post(
                link(served, address), content=ONE_CLICK, headers=FORM, timeout=PATIENCE
            )
            return address, answer.status_code
        except httpx.TransportError:
            return address, None  # cut off by the kill: never answered

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(post, a) for a in addresses]
        for future in concurrent.futures.as_completed(futures):
            address, status = future.result()
            if status == 200:
                answered.append(address)
                if len(answered) == 20:
                    served.kill()  # with the other requests still in flight
    assert len(answered) >= 20
    restarted = Server(served.root, free_port())  # the state as the kill left it
    try:
        recorded = suppressed(served.root)
    finally:
        restarted.stop()
    lost = [a for a in answered if a not in recorded]
    assert lost == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    address=st.sampled_from(["ana.ito@example.org", "stranger@example.org"]),
    method=st.sampled_from(["GET", "POST"]),
)
def test_fuzzed_and_tampered_tokens_record_nothing(served, data, address, method):
    token = sign(SECRET, LIST_ID, address)
    tampered = data.draw(
        st.one_of(
            st.text(max_size=40),  # anything at all
            st.integers(0, len(token) - 1).flatmap(  # one character changed
                lambda i: (
                    st.sampled_from("ABCabc012-_")
                    .filter(lambda c: c != token[i])
                    .map(lambda c: token[:i] + c + token[i + 1 :])
                )
            ),
            st.just(token[:-1]),
            st.just(token + "A"),
            st.just(token.upper() if token.upper() != token else token.lower() + "x"),
        )
    )
    url = link(served, address, token=tampered)
    answer = httpx.request(method, url, content=ONE_CLICK, headers=FORM, timeout=PATIENCE)
    assert 400 <= answer.status_code < 500
    assert count_suppressed(served.root) == 0
