"""The Style tab in headless Chromium: it opens with an example result, and stylises the example with each
method (small size and few steps so the test stays short)."""
from __future__ import annotations

import pytest

from tests.support.browser import browser_page, open_tab, set_number, table_values

pytestmark = pytest.mark.browser


def choose(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=value, exact=True).click()


def test_style_tab_stylises_the_example_with_each_method(app, artifacts):
    from studio.services.stylize import available_methods

    with browser_page(app.local_url) as page:
        open_tab(page, "Style")
        assert "EfficientNet-Lite0" in page.locator("#style-network").inner_text() or \
            "VGG19" in page.locator("#style-network").inner_text()
        page.get_by_text("More settings").click()
        set_number(page, "style-size", 64)
        set_number(page, "style-steps", 2)
        for method in available_methods():
            choose(page, "style-method", method)
            page.locator("#style-button").click()
            page.wait_for_function("document.querySelector('#style-status').innerText.includes('Done')",
                                   timeout=180_000)
            builtin = method in ("optimization", "adain", "fast-optimization")
            key, value = ("method", method) if builtin else ("style model", method)
            page.wait_for_function("([key, value]) => [...document.querySelectorAll('#style-table tr')].some("
                                   "r => r.querySelector('th').innerText === key && r.querySelector('td').innerText"
                                   " === value)", arg=[key, value], timeout=60_000)
            assert table_values(page, "style-table")["size"] == "64"
            page.screenshot(path=str(artifacts / f"style-{method}.png"), full_page=True)
        assert page.locator("#style-result img").count() >= 1
