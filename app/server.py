"""The web app's server: `python -m app.server run app/main.py [streamlit options]` (what `autostack up` starts).

Streamlit's own `streamlit run`, with one difference: the app's modules and Dagster are imported and
the app store's schema is checked *before* the server accepts connections, as a pre-loading web server
does. Streamlit otherwise imports them inside the first page view of every fresh server, where they
cost seconds of CPU (Dagster alone about two) on a small machine. The Dagster instance is not opened
here (measured: with it open, the first page view of a fresh server took ~0.4 s longer); main.py's
warm-up opens it in the background after the first page view. Query results are not touched: they
are cached per snapshot version once the runtime runs, so the first view of each page runs its queries.
"""
from __future__ import annotations

import gc
import logging
import sys


def preload() -> None:
    import dagster  # noqa: F401  (Data sources reads the run, sensor and check history)

    import streamlit.runtime.caching.cache_data_api  # noqa: F401  (creates the logger silenced below)

    caching = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    level = caching.level
    caching.setLevel(logging.ERROR)  # its decorators warn "No runtime found" before the server has one: harmless
    try:
        import app.data
        import app.widgets  # noqa: F401
        import autostack.budgets  # noqa: F401  (Budgets and the overview's budgets at risk)
    finally:
        caching.setLevel(level)
    from autostack.store import session_scope

    settings = app.data.settings()
    try:  # brings the store's schema up to date once per process; the pages' reads then skip that check
        with session_scope(settings):
            pass
    except Exception as exc:  # the pages show the store's error where they need it
        logging.getLogger(__name__).warning("app store not ready at server start: %s", exc)


def main() -> int:
    preload()
    # Move everything loaded so far (Dagster, SQLAlchemy, the app: objects that live as long as the
    # server) out of the garbage collector's sight, so that the full collections a page view's
    # allocations trigger now and then do not walk them all (measured: with everything preloaded and
    # the instance open, the one-line Streamlit page took ~0.4 s longer per view until frozen).
    gc.collect()
    gc.freeze()
    from streamlit.web.cli import main as streamlit_main

    sys.argv[0] = "streamlit"
    return streamlit_main()


if __name__ == "__main__":
    sys.exit(main())
