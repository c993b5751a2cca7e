"""Property test of the URL parser (`Setup.from_query`, what a shared link gives every page): any query string,
known keys with random values and random keys, gives a setup and notices, never an exception, and every number
in the setup is within the range its widget and the engine use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.setup import KNOBS, RETRAIN_EPOCHS, Setup

KEYS = ["data", "arch", "model", "forget", "preset", "chain", "retrain", "result", *KNOBS]
TRICKY = st.sampled_from(
    [
        "²",
        "١",
        "1_000",
        "nan",
        "inf",
        "-1",
        "0",
        "1e9",
        "999999999999",
        "auto",
        "0.5",
        "",
        "star",
        "nope",
        "star|impair.lr=5",
        "star|seed=²",
        "folder:/etc",
        "x.safetensors",
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), st.one_of(TRICKY, st.text()), max_size=8)
)
def test_any_query_gives_a_setup_in_range(query):
    setup, problems = Setup.from_query(query)
    assert all(isinstance(p, str) and p for p in problems)
    for name, knob in KNOBS.items():
        value = setup.get(name)
        assert knob.min <= value <= knob.max, (name, value)
    assert setup.retrain_epochs == 0 or RETRAIN_EPOCHS["min"] <= setup.retrain_epochs <= RETRAIN_EPOCHS["max"]
    for step in setup.chain:  # earlier requests: their settings in range too
        setup.base.with_overrides(**dict(step.overrides))
    assert Setup.from_query(setup.to_query())[0].to_query() == setup.to_query()  # what it keeps is a valid link
