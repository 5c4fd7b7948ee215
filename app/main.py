"""The AutoStack web app: `streamlit run app/main.py` (started by `autostack up` next to the Dagster UI).

One page module per screen under `app_pages/` (not `pages/`: Streamlit treats a `pages/` folder
next to the main script as a legacy multipage app and serves its files directly when a session
starts on a page's URL, bypassing `st.navigation` and this script); all data access in `data.py`. Optional sign-in: a
password (`AUTOSTACK_APP_PASSWORD`), or OIDC through Streamlit's `st.login` when
`.streamlit/secrets.toml` has an `[auth]` section.
"""

import hmac
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="AutoStack", page_icon=":material/savings:", layout="wide")


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def signed_in() -> bool:
    """True when no sign-in is configured, or the visitor has signed in."""
    if _oidc_configured():
        if st.user.is_logged_in:
            st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
            st.sidebar.button("Sign out", on_click=st.logout)
            return True
        st.title("AutoStack")
        st.button("Sign in", on_click=st.login, type="primary")
        return False
    password = os.environ.get("AUTOSTACK_APP_PASSWORD")
    if not password or st.session_state.get("signed_in"):
        return True
    st.title("AutoStack")
    with st.form("sign_in"):
        attempt = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            if hmac.compare_digest(attempt.encode(), password.encode()):
                st.session_state["signed_in"] = True
                st.rerun()
            st.error("Wrong password.")
    return False


PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/cost_explorer.py", title="Cost explorer", icon=":material/query_stats:"),
    st.Page("app_pages/forecasts.py", title="Forecasts", icon=":material/trending_up:"),
    st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/warning:"),
    st.Page("app_pages/recommendations.py", title="Recommendations", icon=":material/lightbulb:"),
    st.Page("app_pages/budgets.py", title="Budgets", icon=":material/savings:"),
    st.Page("app_pages/data_sources.py", title="Data sources", icon=":material/database:"),
]

if signed_in():
    from app import data

    page = st.navigation(PAGES)
    try:
        page.run()
    finally:  # also after st.stop(): the marker tells a browser (tests, benchmark) the page is complete
        with st.container(key="page-rendered"):
            published = data.published_at()
            # No seconds: "12:42:51" looks like an emoji shortcode (":42:") to Streamlit's markdown, which then
            # fetches and compiles its emoji plugin (~260 kB of script) on every page before this line shows.
            st.caption(f"{page.title} · " + (f"snapshot published {published:%Y-%m-%d %H:%M} UTC" if published
                                               else "no snapshot published yet"))
        # After the page, not before it: importing Dagster takes seconds of CPU that the first page view
        # of a fresh server (and the browser drawing it, on a small machine) should not compete with.
        data.warm_up(str(data.settings().dagster_home))
