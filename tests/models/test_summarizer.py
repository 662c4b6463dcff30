"""The summarizer through in-process vLLM and through an OpenAI-compatible vLLM server on
loopback, with SmolLM2-135M (content quality is not judged with a model this small)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from models.errors import SummaryError
from models.registry import llm_path
from models.settings import LLMSettings
from models.summarizer import OpenAIChat, Summarizer, VllmChat
from models.types import ModelRef, RetrievalSegment, Summary
from tests.models.conftest import MODELS_DIR

SOURCE = ModelRef("publisher", "publisher:text", "1")
CUTTER = ModelRef("segmenter", "sentence-window", "1")
TEXTS = [
    "Cold, salty water sinks near the poles and drives a slow conveyor belt of ocean currents "
    "that takes about a thousand years to go around the planet.",
    "That circulation carries heat north, which is why Western Europe is milder than Canada at "
    "the same latitude.",
    "Oceanographers measure it with moored instruments across the Atlantic, and the records "
    "show that it varies from year to year.",
    "Some models suggest that meltwater from Greenland could freshen the surface and slow the "
    "whole system down.",
]


def _segments(repeat: int = 1) -> list[RetrievalSegment]:
    texts = TEXTS * repeat
    return [
        RetrievalSegment(f"ep:{i:05d}", "ep", i, i * 80.0, i * 80.0 + 75.0, t, CUTTER, SOURCE)
        for i, t in enumerate(texts)
    ]


def _valid(summary: Summary, duration_s: float) -> None:
    assert 40 <= len(summary.summary) <= 700
    assert 1 <= len(summary.topics) <= 6
    assert all(2 <= len(t) <= 48 for t in summary.topics)
    assert summary.chapters
    assert all(3 <= len(c.title) <= 90 for c in summary.chapters)
    assert summary.chapters[0].start_s == 0.0
    assert summary.chapters[-1].end_s == pytest.approx(duration_s)
    starts = [c.start_s for c in summary.chapters]
    assert starts == sorted(starts)


@pytest.fixture(scope="module")
def in_process(llm_settings: LLMSettings) -> VllmChat:
    return VllmChat(llm_settings, MODELS_DIR)


def test_in_process_vllm_returns_a_valid_summary(in_process: VllmChat) -> None:
    summary = Summarizer(in_process).summarize(_segments(), title="The deep ocean's currents")
    _valid(summary, 3 * 80.0 + 75.0)
    assert summary.model.id.startswith("llm:smollm2-135m@")


def test_long_transcripts_go_map_reduce(in_process: VllmChat) -> None:
    segments = _segments(repeat=6)  # ~3,400 characters against a 1,600-character budget
    summarizer = Summarizer(in_process, max_output_tokens=400)
    summarizer.budget_chars = 1600  # a small context stands in for a long episode
    counted = _Counted()
    summary = summarizer.summarize(segments, progress=counted)
    _valid(summary, segments[-1].end_s)
    assert len(summary.chapters) == 6  # ~32 min at ~5 min per chapter
    # The episode's status counts every request: parts, the combining one, chapter titles.
    assert counted.totals[0] >= 3 + 6 and counted.done == counted.totals[-1]


class _Counted:
    """Where the summarizer counts its requests (the episode status's counter, in memory)."""

    def __init__(self) -> None:
        self.totals: list[int] = []
        self.done = 0.0

    def expect(self, total: int) -> None:
        self.totals.append(total)

    def add(self, amount: float = 1.0) -> None:
        self.done += amount


def test_a_malformed_answer_is_retried_then_refused(in_process: VllmChat) -> None:
    """Too few tokens truncate the JSON; after one retry it is a recorded failure, not
    garbage."""
    with pytest.raises(SummaryError) as caught:
        Summarizer(in_process, max_output_tokens=24).summarize(_segments())
    assert caught.value.code == "summary_invalid"
    assert "twice" in str(caught.value)


def test_empty_transcript_is_refused(in_process: VllmChat) -> None:
    with pytest.raises(SummaryError):
        Summarizer(in_process).summarize([])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def vllm_server(llm_settings: LLMSettings) -> Iterator[str]:
    """vLLM's own OpenAI-compatible server on 127.0.0.1, in a process group of its own."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
         "--model", llm_path(llm_settings.model, MODELS_DIR), "--served-model-name", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
         "--max-model-len", "2048"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, "the vLLM server exited"
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the vLLM server did not start"
            time.sleep(1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its engine worker
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_openai_compatible_endpoint_returns_a_valid_summary(vllm_server: str) -> None:
    backend = OpenAIChat(
        LLMSettings(backend="openai", base_url=vllm_server, served_model_name="smollm2",
                    max_model_len=2048)
    )  # fmt: skip
    summary = Summarizer(backend).summarize(_segments(), title="The deep ocean's currents")
    _valid(summary, 3 * 80.0 + 75.0)
    assert summary.model.name == "smollm2"
