"""Where the dashboard is served, in words for the sidebar: this computer only, or the network."""

from __future__ import annotations

import streamlit as st

LOCAL = ("127.0.0.1", "localhost", "::1")  # addresses only this computer can reach


def served_where(address: str | None, port: int) -> str:
    """`server.address` and `server.port` as a sentence: unset or 0.0.0.0 means every network interface."""
    if address in LOCAL:
        return f"this computer only (http://localhost:{port})"
    where = "every network interface" if address in (None, "", "0.0.0.0", "::") else address
    return f"the network ({where}, port {port}): anyone who can reach this computer can use it"


def current() -> str:
    return served_where(st.get_option("server.address"), st.get_option("server.port"))
