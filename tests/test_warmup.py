"""Warm once (studio/warmup.py): a new model is warmed by one UNSIR request, a new forget set of a warmed model by
its stored reference's test-set pass, nothing twice, nothing when switched off (the test servers)."""

from __future__ import annotations

import pytest

from studio import loaders, runs, warmup
from studio.setup import Setup
from unsir_core.checkpoints.store import load_model
from unsir_core.metrics import evaluate

STAR = Setup.fresh().with_value("forget", ("star",))


class Recording:
    """A queue that records the titles of the jobs submitted to it (their work is the test below's)."""

    def __init__(self):
        self.titles: list[str] = []

    def submit(self, owner, kind, title, work, commit):
        self.titles.append(title)
        return title


@pytest.fixture
def queue(monkeypatch):
    monkeypatch.setattr(warmup, "QUEUE", Recording())
    monkeypatch.setattr(warmup, "WARMED", set())
    monkeypatch.delenv(warmup.SWITCH, raising=False)
    return warmup.QUEUE


def test_a_new_model_then_a_new_forget_set_are_each_warmed_once(queue):
    for setup in (Setup.fresh(), Setup.fresh(), STAR, STAR, STAR.with_value("forget", ("circle",))):
        warmup.warm_up(setup)
    assert queue.titles == [
        "Warming up shapes10-smallcnn",
        "Warming up the reference without star",
        "Warming up the reference without circle",
    ]


def test_the_first_request_on_a_model_warms_its_forget_sets_reference_too(queue):
    warmup.warm_up(STAR)
    warmup.warm_up(STAR)
    assert queue.titles == ["Warming up shapes10-smallcnn"]  # its UNSIR request forgets star, with the reference


def test_switched_off_nothing_is_queued(queue, monkeypatch):
    monkeypatch.setenv(warmup.SWITCH, "0")
    assert warmup.warm_up(STAR) is None and queue.titles == []


def test_the_reference_warm_up_computes_the_logits_a_run_then_reads_from_the_cache():
    assert warmup.reference(STAR)
    found = runs.stored_reference(STAR, loaders.model(STAR))
    assert evaluate.fingerprint(load_model(found), loaders.data(STAR.dataset).test_x) in evaluate._known


def test_no_stored_reference_nothing_to_warm():
    assert not warmup.reference(STAR.with_value("forget", ("star", "circle")))  # only one class each is shipped
