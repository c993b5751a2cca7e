"""Session state: the current setup (mirrored in the URL), widgets bound to it, and one-off notices.

Widgets never own the setup. Each is seeded from it and writes back in its on_change callback
(which runs before the script), so a value survives page switches, the sidebar is always current,
and a link or the guided demo can change it. A check that fails reverts the widget and leaves the
setup as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from unsir_core.common.config import UnsirConfig
from unsir_core.common.errors import UnsirError

from .setup import Setup

SETUP = "setup"
NOTICES = "notices"
WIDGET = "setup:"  # prefix of the keys of widgets bound to a setup field


def setup() -> Setup:
    return st.session_state[SETUP]


def start_session() -> bool:
    """On the first run of a session, read the setup from the URL (problems become notices); True then."""
    if SETUP in st.session_state:
        return False
    found, problems = Setup.from_query(st.query_params.to_dict())
    st.session_state[SETUP] = found
    for text in problems:
        notify("warning", text)
    return True


def sync_url(extra: dict[str, str] | None = None) -> None:
    """Write the setup (and `extra` parameters) into the URL when it changed: the address bar reproduces it."""
    query = {**setup().to_query(), **(extra or {})}
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def set_setup(new: Setup) -> None:
    """Replace the setup; widgets of changed fields are re-seeded from it on their next render."""
    old = setup()
    st.session_state[SETUP] = new
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(WIDGET)]:
        name = key[len(WIDGET) :]
        if old.get(name) != new.get(name):
            del st.session_state[key]


def apply_recipe(base: UnsirConfig) -> None:
    """Rebase the setup on `base` (the auto recipe for its data, model and forget classes), keeping the user's
    changes; widgets whose value changes are re-seeded."""
    if setup().base != base:
        set_setup(setup().with_base(base))


def bind(name: str, check: Callable[[Setup], Any] | None = None) -> dict[str, Any]:
    """Keyword arguments binding a widget to setup field `name`; `check(new_setup)` may raise UnsirError."""
    key = WIDGET + name
    if key not in st.session_state:
        value = setup().get(name)
        st.session_state[key] = list(value) if isinstance(value, tuple) else value
    return {"key": key, "on_change": _write_back, "args": (name, check)}


def _write_back(name: str, check: Callable[[Setup], Any] | None) -> None:
    key = WIDGET + name
    old = setup()
    new = old.with_value(name, st.session_state[key])
    try:
        if check is not None:
            check(new)
    except UnsirError as err:
        value = old.get(name)
        st.session_state[key] = list(value) if isinstance(value, tuple) else value
        notify("error", str(err))
        return
    set_setup(new)


def notify(kind: str, text: str) -> None:
    """Queue a message ("success", "info", "warning" or "error") for the top of the next page shown."""
    st.session_state.setdefault(NOTICES, []).append((kind, text))


def pop_notices() -> list[tuple[str, str]]:
    return st.session_state.pop(NOTICES, [])
