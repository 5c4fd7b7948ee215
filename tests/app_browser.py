"""Serving the app and driving it with a real browser (Debian's chromium through Playwright), for the
browser test and the page benchmark. Never downloads a browser."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from autostack.cli import app_server_command
from autostack.settings import PROJECT_ROOT, Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# url path of each page (st.Page names them after the file; the default page is the root)
PAGES = {"overview": "", "cost_explorer": "cost_explorer", "forecasts": "forecasts", "anomalies": "anomalies",
         "recommendations": "recommendations", "data_sources": "data_sources", "budgets": "budgets"}
TITLES = {"overview": "Overview", "cost_explorer": "Cost explorer", "forecasts": "Forecasts", "anomalies": "Anomalies",
          "recommendations": "Recommendations", "data_sources": "Data sources", "budgets": "Budgets"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(settings: Settings, log_path: Path, timeout: float = 120, script: Path | None = None):
    """Run `streamlit run app/main.py` (or `script`) on 127.0.0.1 against `settings`; yields its base URL;
    always stops it."""
    port = free_port()
    command = app_server_command("127.0.0.1", port)
    if script is not None:
        command[command.index(str(PROJECT_ROOT / "app" / "main.py"))] = str(script)
    env = {**os.environ, "AUTOSTACK_HOME": str(settings.home), "DAGSTER_HOME": str(settings.dagster_home),
           "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("AUTOSTACK_APP_PASSWORD", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start on {url}; see {log_path}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"the browser tests drive Debian's chromium at {CHROMIUM}, which is not installed: "
                           "`apt-get install chromium` (.ci/run does this when it is missing)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_rendered(page, name: str, timeout_ms: int = 90000) -> None:
    """Until the page's script has finished (main.py's footer marker names it), no element is still a
    loading placeholder (Streamlit shows a skeleton while an element's code loads) and every chart is drawn.

    One condition, checked inside the page on every animation frame, so the moment it holds is seen
    within a frame. (A Playwright locator wait polls at growing intervals, up to 500 ms apart: on the
    one-line Streamlit page it reported ~1.0 s for a marker that was in the DOM at ~0.66 s.)"""
    page.wait_for_function(
        """title => [...document.querySelectorAll('.st-key-page-rendered')].some(m => m.textContent.includes(title + ' · '))
                 && !document.querySelector('[data-testid="stSkeleton"]')
                 && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'))""",
        arg=TITLES[name], polling="raf", timeout=timeout_ms,
    )


def open_page(page, base_url: str, name: str) -> float:
    """Load one page in a fresh session and return seconds until it is fully rendered."""
    started = time.perf_counter()
    page.goto(f"{base_url}/{PAGES[name]}", wait_until="commit")
    wait_rendered(page, name)
    return time.perf_counter() - started


def navigate(page, name: str) -> float:
    """Switch to a page through the sidebar (the session stays open) and return seconds until it is rendered."""
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=TITLES[name]).first.click()
    wait_rendered(page, name)
    return time.perf_counter() - started


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
