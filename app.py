"""UNSIR Studio: an interactive walk through class unlearning with UNSIR (Tarun et al., "Fast Yet
Effective Machine Unlearning"). Entry point: page config, navigation, the session's setup (read
from and written to the URL) and the sidebar; each page in app_pages/ is one step of the method.
"""

from pathlib import Path

import streamlit as st

from studio import handout, jobs, nav, state, ui, warmup

ASSETS = Path(__file__).parent / "assets"
# a shipped file, inlined into the page: a material icon would be fetched from a font server and miss offline
st.set_page_config(page_title="UNSIR Studio", page_icon=ASSETS / "favicon.svg", layout="wide")
if state.start_session():
    handout.remember_shared(st.query_params.to_dict(), state.setup())
jobs.start()
jobs.announce_admin(st.get_option("server.port"))
jobs.collect()
jobs.claim()
page = st.navigation(
    [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path or None, default=p is nav.OVERVIEW)
        for p in nav.PAGES
    ]
)
state.sync_url({**handout.result_query(), **jobs.url_query()})
st.logo(ASSETS / "logo.svg", size="large")
ui.sidebar()
warmup.warm_up(state.setup())  # in the background, once per model: the first run is then no slower than the next
jobs.sidebar_status()
page.run()
