"""Specification of Content-Encoding: identity and gzip undone within bounds of size, layers and members."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.collector.contentcoding import (
    CHEAP_INPUT_BYTES,
    CHEAP_OUTPUT_BYTES,
    MAX_CODINGS,
    MAX_GZIP_MEMBERS,
    decode_content,
    decode_content_cheaply,
)
from agentwatch.collector.ingest_errors import BadRequest, IngestError, PayloadTooLarge, UnsupportedMediaType
from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH
from tests.helpers import RunningCollector


class Work:
    """Counts what every zlib decompressor is given and gives back: the work, whatever the machine."""

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0
        self.decompressors = 0


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    counted = Work()
    decompressobj = zlib.decompressobj

    class Counting:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._inner = decompressobj(*args, **kwargs)
            counted.decompressors += 1

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            chunk = self._inner.decompress(data, max_length)
            counted.bytes_in += len(data)
            counted.bytes_out += len(chunk)
            return chunk

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    return counted


# ------------------------------------------------------------------- what is undone
def test_identity_body_passes_through() -> None:
    assert decode_content(b"abc", None, limit=10) == b"abc"
    assert decode_content(b"abc", "identity", limit=10) == b"abc"


def test_gzip_and_x_gzip_are_decompressed() -> None:
    body = b'{"agent_id":"a"}' * 10
    assert decode_content(gzip.compress(body), "gzip", limit=1000) == body
    assert decode_content(gzip.compress(body), "X-GZIP", limit=1000) == body


def test_multi_member_gzip_is_accepted() -> None:
    assert decode_content(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", limit=10) == b"abcd"


def test_as_many_members_as_the_limit_decode_to_every_members_content() -> None:
    pieces = [f'{{"agent_id":"a{i}"}}\n'.encode() for i in range(MAX_GZIP_MEMBERS)]
    body = b"".join(gzip.compress(piece) for piece in pieces)
    assert decode_content(body, "gzip", limit=1 << 20) == b"".join(pieces)


def test_members_larger_than_the_first_piece_fed_decode_whole() -> None:
    pieces = [bytes([i]) * size for i, size in enumerate((1, 300, 70_000, 5, 2_000_000))]
    body = b"".join(gzip.compress(piece, compresslevel=0) for piece in pieces)  # stored: as long as the data
    assert decode_content(body, "gzip", limit=4 << 20) == b"".join(pieces)


def test_two_gzip_layers_are_undone() -> None:
    body = b"[1, 2, 3]"
    assert decode_content(gzip.compress(gzip.compress(body)), "gzip, gzip", limit=100) == body
    assert decode_content(gzip.compress(gzip.compress(body)), "gzip, identity, x-gzip", limit=100) == body


# ------------------------------------------------------------------------ refusals
def test_more_gzip_layers_than_the_cap_are_unsupported_media_type_naming_the_cap(work: Work) -> None:
    body = b"{}"
    for _ in range(MAX_CODINGS + 1):
        body = gzip.compress(body)
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_content(body, ", ".join(["gzip"] * (MAX_CODINGS + 1)), limit=1000)
    assert caught.value.status == 415
    assert f"at most {MAX_CODINGS}" in caught.value.message
    assert work.decompressors == 0, "refused before any inflating"


def test_more_members_than_the_cap_are_a_bad_request_naming_the_cap(work: Work) -> None:
    body = gzip.compress(b" ") * (MAX_GZIP_MEMBERS + 1)
    with pytest.raises(BadRequest) as caught:
        decode_content(body, "gzip", limit=1 << 20)
    assert caught.value.status == 400
    assert str(MAX_GZIP_MEMBERS) in caught.value.message
    assert work.decompressors == MAX_GZIP_MEMBERS, "stopped at the cap, not after the whole body"


def single_member_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(size >> 20)) + compressor.flush()


def multi_member_bomb(size: int) -> bytes:
    member = gzip.compress(bytes(1 << 20), compresslevel=9)  # ~1 KiB each
    return member * (size >> 20)


@pytest.mark.parametrize(
    "bomb",
    [single_member_bomb(128 << 20), multi_member_bomb(1 << 30)],
    ids=["128MiB-one-member", "1GiB-many-members"],
)
def test_gzip_bomb_is_refused_quickly_with_bounded_memory(bomb: bytes, work: Work) -> None:
    limit = 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as caught:
            decode_content(bomb, "gzip", limit=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(limit) in caught.value.message
    assert caught.value.status == 413
    assert work.bytes_out <= limit + 1  # stopped one byte past the limit, not after the whole bomb
    assert peak < len(bomb) + 3 * limit  # at most one copy of the input plus the limit, never the 1 GiB


def test_corrupt_gzip_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_content(b"not gzip at all", "gzip", limit=1000)
    assert caught.value.status == 400
    assert "gzip" in caught.value.message


def test_garbage_after_the_last_member_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="corrupt"):
        decode_content(gzip.compress(b"ab") + b"garbage", "gzip", limit=1000)


@pytest.mark.parametrize(
    "body",
    [gzip.compress(b"x" * 100, mtime=0)[:-10], b"", gzip.compress(b"ab", mtime=0) + b"\x1f"],
    ids=["cut-short", "empty", "a-second-member-cut-short"],
)
def test_truncated_gzip_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest, match=r"truncated|corrupt"):
        decode_content(body, "gzip", limit=1000)


def test_unknown_encoding_is_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_content(b"...", "br", limit=1000)
    assert caught.value.status == 415
    assert "br" in caught.value.message


def test_identity_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="10"):
        decode_content(b"x" * 11, None, limit=10)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_sent_as_gzip_raise_nothing_but_ingest_errors(body: bytes) -> None:
    for candidate in (body, gzip.compress(body)):
        try:
            decode_content(candidate, "gzip", limit=1000)
        except IngestError as exc:
            assert exc.status in (400, 413)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=20), st.integers(0, 9))
def test_any_members_decode_to_their_concatenation(pieces: list[bytes], level: int) -> None:
    body = b"".join(gzip.compress(piece, compresslevel=level) for piece in pieces)
    assert decode_content(body, "gzip", limit=1 << 20) == b"".join(pieces)


# ----------------------------------------------------------------------- linear work
def test_many_tiny_members_cost_work_linear_in_the_body(work: Work) -> None:
    """Each member's decompressor is fed about its own size, never the rest of the body."""
    body = gzip.compress(b" ") * MAX_GZIP_MEMBERS  # 21 bytes each
    assert decode_content(body, "gzip", limit=1 << 20) == b" " * MAX_GZIP_MEMBERS
    # Feeding each member the rest of the body would be ~len(body) * members / 2 = 10 MB here.
    assert work.bytes_in <= 16 * len(body)


def test_large_members_cost_work_linear_in_the_body(work: Work) -> None:
    pieces = [bytes([i]) * 300_000 for i in range(8)]
    body = b"".join(gzip.compress(piece, compresslevel=0) for piece in pieces)
    assert decode_content(body, "gzip", limit=4 << 20) == b"".join(pieces)
    assert work.bytes_in <= 2 * len(body)


# -------------------------------------------------------------------- cheap or not
def test_identity_and_small_gzip_bodies_are_decoded_cheaply() -> None:
    assert decode_content_cheaply(b"[1]", None, limit=100) == b"[1]"
    assert decode_content_cheaply(gzip.compress(b"[1]"), "gzip", limit=100) == b"[1]"


def test_a_large_encoded_body_is_declined_without_work(work: Work) -> None:
    body = gzip.compress(bytes(range(256)) * (CHEAP_INPUT_BYTES // 256 + 1), compresslevel=0)
    assert decode_content_cheaply(body, "gzip", limit=1 << 20) is None
    assert work.decompressors == 0


def test_a_small_body_inflating_past_the_budget_is_declined_after_the_budget(work: Work) -> None:
    body = gzip.compress(bytes(4 << 20))  # 4 KiB in, 4 MiB out
    assert len(body) < CHEAP_INPUT_BYTES
    assert decode_content_cheaply(body, "gzip", limit=8 << 20) is None
    assert work.bytes_out <= CHEAP_OUTPUT_BYTES + 1
    assert decode_content(body, "gzip", limit=8 << 20) == bytes(4 << 20)


def test_cheap_decoding_raises_the_same_errors() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_content_cheaply(b"{}", "gzip, gzip, gzip", limit=100)
    with pytest.raises(BadRequest):
        decode_content_cheaply(b"not gzip", "gzip", limit=100)
    with pytest.raises(PayloadTooLarge):
        decode_content_cheaply(gzip.compress(bytes(200)), "gzip", limit=100)


# ------------------------------------------------------------- over real HTTP
def post_encoded(collector: RunningCollector, body: bytes, encoding: str) -> httpx.Response:
    headers = {**collector.headers(), "Content-Type": "application/x-ndjson", "Content-Encoding": encoding}
    return httpx.post(collector.url + PATH_EVENTS, content=body, headers=headers, timeout=30)


def test_a_body_of_many_gzip_members_is_ingested_whole(collector: RunningCollector) -> None:
    lines = [
        json.dumps({"agent_id": f"a{i % 7}", "span_type": "tool_call"}).encode() + b"\n" for i in range(1000)
    ]
    response = post_encoded(collector, b"".join(gzip.compress(line) for line in lines), "gzip")
    assert response.status_code == 202 and response.json()["accepted"] == 1000
    assert httpx.get(collector.url + PATH_HEALTH).json()["events_total"] == 1000


def test_a_large_gzip_body_decoded_in_a_thread_is_ingested_whole(collector: RunningCollector) -> None:
    lines = [json.dumps({"agent_id": f"a{i}", "message": "x" * 200}).encode() + b"\n" for i in range(5000)]
    body = gzip.compress(b"".join(lines), compresslevel=0)  # over the cheap input size
    assert len(body) > CHEAP_INPUT_BYTES
    response = post_encoded(collector, body, "gzip")
    assert response.status_code == 202 and response.json()["accepted"] == 5000


def test_stacked_gzip_layers_over_the_cap_are_a_415_naming_the_cap(collector: RunningCollector) -> None:
    body = b'{"agent_id": "a"}'
    for _ in range(MAX_CODINGS + 1):
        body = gzip.compress(body)
    response = post_encoded(collector, body, ", ".join(["gzip"] * (MAX_CODINGS + 1)))
    assert response.status_code == 415
    assert f"at most {MAX_CODINGS}" in response.json()["error"]
    assert (
        post_encoded(collector, gzip.compress(gzip.compress(b'{"agent_id": "a"}')), "gzip, gzip").status_code
        == 202
    )


def test_a_body_with_more_gzip_members_than_the_cap_is_a_400_naming_the_cap(
    collector: RunningCollector,
) -> None:
    body = gzip.compress(b" ") * 195_047  # the 4 MB body that once held the event loop for seconds
    response = post_encoded(collector, body, "gzip")
    assert response.status_code == 400
    assert str(MAX_GZIP_MEMBERS) in response.json()["error"]
    assert httpx.get(collector.url + PATH_HEALTH).json()["events_total"] == 0
