"""Dashboard logic shared by the pages of UNSIR Studio (session state, jobs, loaders, charts).

`unsir_core` never imports streamlit; this package is the only place that joins the two.
"""
