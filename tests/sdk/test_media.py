"""The official SDKs' media calls through the router: openai `embeddings.create`,
`audio.transcriptions.create` (a real WAV made here), `audio.speech.create`,
`images.generate`; google-genai `embed_content` and `count_tokens` (sent to the Gemini
upstream). Each alias's provider has two keys, the first rate-limited, so each call shows a
failover in the request log."""

from __future__ import annotations

import io
import math
import struct
import wave

import httpx
import openai
from google import genai
from google.genai import types

from conftest import ADMIN_TOKEN


def openai_client(router) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.v1, api_key=router.access_key, max_retries=0)


def genai_client(router) -> genai.Client:
    opts = types.HttpOptions(base_url=router.root, timeout=30_000)
    return genai.Client(api_key=router.access_key, http_options=opts)


def last_record(router, alias: str) -> dict:
    resp = httpx.get(
        f"{router.root}/api/v1/requests",
        params={"alias": alias, "limit": 1},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    records = resp.json()
    assert records, f"no record for {alias}"
    return records[0]


def assert_failed_over(router, alias: str) -> dict:
    rec = last_record(router, alias)
    assert rec["status"] == 200, rec
    assert [a["outcome"] for a in rec["attempts"]] == ["rate_limited", "ok"], rec
    assert rec["provider"] == alias, rec
    return rec


def wav_bytes(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def test_embeddings_create(router):
    resp = openai_client(router).embeddings.create(
        model="media-emb", input=["a cat", "a dog"]
    )
    assert resp.model == "media-emb"
    assert len(resp.data) == 2
    # The SDK asks for base64 and decodes it back to floats.
    assert len(resp.data[1].embedding) == 8
    assert all(isinstance(x, float) for x in resp.data[0].embedding)
    assert resp.usage.prompt_tokens > 0
    rec = assert_failed_over(router, "media-emb")
    assert rec["tokens_in"] == resp.usage.prompt_tokens


def test_audio_transcription_of_a_real_wav(router):
    audio = wav_bytes(1.0)
    resp = openai_client(router).audio.transcriptions.create(
        model="media-stt", file=("hello.wav", audio, "audio/wav")
    )
    assert resp.text == f"Mock transcript of {len(audio)} bytes."
    rec = assert_failed_over(router, "media-stt")
    assert rec["audio_ms"] == 1000, rec


def test_audio_speech_create(router):
    client = openai_client(router)
    with client.audio.speech.with_streaming_response.create(
        model="media-tts", voice="alloy", input="Hello there"
    ) as resp:
        assert resp.headers["content-type"] == "audio/mpeg"
        audio = b"".join(resp.iter_bytes())
    assert audio == b"ID3\x04\x00mock-audio:" + bytes(b + 1 for b in b"Hello there")
    assert_failed_over(router, "media-tts")


def test_images_generate(router):
    resp = openai_client(router).images.generate(
        model="media-img", prompt="a lighthouse at dusk", n=2
    )
    assert len(resp.data) == 2
    assert all(d.b64_json for d in resp.data)
    rec = assert_failed_over(router, "media-img")
    assert rec["images"] == 2, rec


def test_genai_embed_content(router):
    client = genai_client(router)  # held: a dropped client closes its connection pool
    resp = client.models.embed_content(
        model="media-gemb", contents=["one", "two", "three"]
    )
    assert len(resp.embeddings) == 3
    assert all(len(e.values) == 8 for e in resp.embeddings)
    assert resp.embeddings[0].values != resp.embeddings[1].values
    assert_failed_over(router, "media-gemb")


def test_genai_count_tokens_goes_to_the_gemini_upstream(router):
    client = genai_client(router)
    resp = client.models.count_tokens(
        model="media-gcount", contents="How many tokens is this sentence?"
    )
    assert resp.total_tokens > 0
    # Served upstream (the local estimate makes no attempts), after a failover.
    assert_failed_over(router, "media-gcount")
