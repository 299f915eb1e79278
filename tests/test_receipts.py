"""Idempotency receipts (agentwatch.collector.receipts): answers by key, and keys in flight."""

from __future__ import annotations

import asyncio

import pytest

from agentwatch.collector.receipts import KeyReused, Receipts, body_digest, valid_key


async def test_a_request_for_a_key_in_flight_waits_for_the_first_and_gets_its_answer() -> None:
    receipts = Receipts()
    assert await receipts.claim("k") is None  # the first: ingests, the key is in flight
    second = asyncio.create_task(receipts.claim("k"))
    await asyncio.sleep(0)  # one step: the second reaches its wait
    assert not second.done()
    receipts.add("k", b'{"accepted":1}')
    receipts.release("k")
    assert await second == b'{"accepted":1}'
    assert receipts.repeats == 1


async def test_when_the_first_fails_one_waiting_request_takes_the_key_over() -> None:
    receipts = Receipts()
    assert await receipts.claim("k") is None
    second = asyncio.create_task(receipts.claim("k"))
    third = asyncio.create_task(receipts.claim("k"))
    await asyncio.sleep(0)
    receipts.release("k")  # the first failed: no answer
    assert await second is None  # the second ingests now
    await asyncio.sleep(0)
    assert not third.done()  # and the third waits for it
    receipts.add("k", b"answer")
    receipts.release("k")
    assert await third == b"answer"
    assert receipts.repeats == 1


def test_the_oldest_keys_go_first_past_max_keys() -> None:
    receipts = Receipts(max_keys=2)
    for key in ("a", "b", "c"):
        receipts.add(key, key.encode())
    assert (receipts.get("a"), receipts.get("b"), receipts.get("c")) == (None, b"b", b"c")
    assert len(receipts) == 2


def test_valid_keys_are_1_to_128_printable_ascii_characters() -> None:
    assert valid_key("k") and valid_key("x" * 128)
    assert not any(valid_key(key) for key in ("", "x" * 129, "tab\there", "é"))


async def test_a_key_answered_for_one_batch_is_refused_for_another() -> None:
    receipts = Receipts()
    first, other = body_digest(b'[{"agent_id":"a"}]'), body_digest(b'[{"agent_id":"b"}]')
    assert await receipts.claim("k", first) is None
    receipts.add("k", b'{"accepted":1}', digest=first)
    receipts.release("k")
    assert await receipts.claim("k", first) == b'{"accepted":1}'
    with pytest.raises(KeyReused, match="'k'"):
        await receipts.claim("k", other)
    receipts.add("old", b"answer")  # kept by an earlier version, without a digest: matches any batch
    assert await receipts.claim("old", other) == b"answer"
