"""The Style tab in headless Chromium: it opens with an example result, and stylises the example with each
method (small size and few steps so the test stays short)."""
from __future__ import annotations

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def choose(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=value, exact=True).click()


def test_style_tab_stylises_the_example_with_each_method(app, artifacts):
    from studio.services.stylize import available_methods

    with browser_page(app.local_url) as page:
        open_tab(page, "Style")
        assert "EfficientNet-Lite0" in page.locator("#style-network").inner_text() or \
            "VGG19" in page.locator("#style-network").inner_text()
        set_number(page, "style-size", 64)
        set_number(page, "style-steps", 2)
        for method in available_methods():
            choose(page, "style-method", method)
            page.locator("#style-button").click()
            marker = f'"method":"{method}"' if method in ("optimization", "adain", "fast-optimization") \
                else f'"style_model":"{method}"'
            page.wait_for_function(
                "([marker]) => document.querySelector('#style-status').innerText.includes('done')"
                " && document.querySelector('#style-info').innerText.replace(/\\s/g, '').includes(marker)"
                " && document.querySelector('#style-info').innerText.replace(/\\s/g, '').includes('\"size\":64')",
                arg=[marker], timeout=180_000)
            page.screenshot(path=str(artifacts / f"style-{method}.png"), full_page=True)
        assert page.locator("#style-result img").count() >= 1
