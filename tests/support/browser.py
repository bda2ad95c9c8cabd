"""Headless Debian Chromium driven by Playwright (no browser download), for tests that use the real UI."""
from __future__ import annotations

import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium); browser tests need it")


@contextlib.contextmanager
def browser_page(url: str, width: int = 1400, height: int = 1000):
    """A fresh page on `url`, waiting until the Gradio app has rendered."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#tabs", timeout=60_000)
            yield page
        finally:
            browser.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(300)


# An error message in the page: Gradio shows each as a toast whose title carries the class "error".
ERRORS_SHOWN = ".toast-title.error"


def set_number(page, elem_id: str, value) -> None:
    """Type a number into a slider's or number box's field and confirm it."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def table_values(page, elem_id: str) -> dict[str, str]:
    """The name -> value rows of one of the studio's key/value tables (parameters, status, a model's record)."""
    return page.evaluate("(id) => Object.fromEntries([...document.querySelectorAll('#' + id + ' tr')]"
                         ".map(r => [r.querySelector('th').innerText, r.querySelector('td').innerText]))", elem_id)
