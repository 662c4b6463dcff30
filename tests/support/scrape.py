"""Reading a Prometheus endpoint the way Prometheus does: scrape, parse, select by labels."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def total(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 if none)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def most(self, name: str, **labels: str) -> float:
        """The largest of the matching samples (a gauge every replica publishes alike)."""
        values = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return max(values, default=0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


def parse(text: str) -> Scrape:
    families = text_string_to_metric_families(text)
    return Scrape([sample for family in families for sample in family.samples])


def scrape(url: str) -> Scrape:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return parse(response.text)


def scrape_until(url: str, ready: Callable[[Scrape], bool], timeout_s: float = 90) -> Scrape:
    """Scrape until ``ready`` holds (Ray's agents publish every few seconds); the last scrape
    is returned either way, so the caller's assertions say what was missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = scrape(url)
        if ready(last) or time.monotonic() > deadline:
            return last
        time.sleep(2)
