"""The pages of the app, registered once here: app.py builds the navigation and pages link by path.

The folder is app_pages/, not pages/: with a folder named pages/, Streamlit 1.67 still auto-discovers
it on a fresh server (a deep link as the first request runs the page without app.py) and in every
AppTest run (switch_page skips app.py). Explicit st.navigation needs neither.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageDef:
    path: str  # the page's file, relative to app.py (also what AppTest.switch_page takes)
    title: str
    icon: str
    url_path: str  # the page's address: http://host/<url_path> ("" for the default page)


OVERVIEW = PageDef("app_pages/overview.py", "Overview", ":material/home:", "")
MODEL = PageDef("app_pages/model_data.py", "Model and data", ":material/database:", "model-and-data")
NOISE = PageDef("app_pages/forget_noise.py", "Forget classes and noise", ":material/blur_on:", "forget-and-noise")
UNLEARN = PageDef("app_pages/impair_repair.py", "Impair and repair", ":material/healing:", "impair-and-repair")
RESULTS = PageDef("app_pages/results.py", "Results", ":material/analytics:", "results")
GRADCAM = PageDef("app_pages/gradcam.py", "GradCAM before/after", ":material/visibility:", "gradcam")
RUNS = PageDef("app_pages/runs.py", "Runs", ":material/history:", "runs")
COMPARE = PageDef("app_pages/compare.py", "Compare methods", ":material/compare_arrows:", "compare")
WHATIF = PageDef("app_pages/whatif.py", "What-if sweeps", ":material/ssid_chart:", "what-if")

PAGES = (OVERVIEW, MODEL, NOISE, UNLEARN, RESULTS, GRADCAM, RUNS, COMPARE, WHATIF)
