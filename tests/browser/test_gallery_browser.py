"""The Gallery tab in headless Chromium: what Generate made shows up, opens at full size, takes a rating and a
favourite mark (kept on disk), filters down to the favourites, and is deleted."""
from __future__ import annotations

import re

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def test_browse_rate_favourite_filter_and_delete(app, app_vae, artifacts):
    from studio.services.gallery import gallery_item, list_gallery
    from studio.services.generate import generate

    made = generate(app_vae, count=3, seed=70).gallery_ids
    with browser_page(app.local_url) as page:
        open_tab(page, "Gallery")
        page.locator("#gallery-model input").click()
        page.get_by_role("option", name=app_vae).click()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('3 items')",
                               timeout=60_000)
        tiles = page.locator("#gallery-grid img")
        assert tiles.count() == 3
        tiles.first.click()  # the newest: seed 72
        page.wait_for_function(f"document.querySelector('#gallery-info').innerText.includes('{made[2]}')",
                               timeout=60_000)
        assert page.locator("#gallery-full img").is_visible()
        page.screenshot(path=str(artifacts / "gallery-item.png"), full_page=True)

        page.locator("#gallery-stars").get_by_text("★★★★", exact=True).click()
        page.wait_for_function("document.querySelector('#gallery-info').innerText.replace(/\\s/g, '')"
                               ".includes('\"rating\":4')", timeout=60_000)
        page.locator("#gallery-favourite input").check()
        page.wait_for_function("document.querySelector('#gallery-info').innerText.replace(/\\s/g, '')"
                               ".includes('\"favourite\":true')", timeout=60_000)
        record = gallery_item(made[2])
        assert record["rating"] == 4 and record["favourite"] is True  # on disk, not only on the page

        page.locator("#gallery-favourites input").check()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('1 item')",
                               timeout=60_000)
        assert page.locator("#gallery-grid img").count() == 1
        page.screenshot(path=str(artifacts / "gallery-favourites.png"), full_page=True)

        page.locator("#gallery-favourites input").uncheck()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('3 items')",
                               timeout=60_000)
        page.locator("#gallery-grid img").last.click()  # the oldest: seed 70
        page.wait_for_function(f"document.querySelector('#gallery-info').innerText.includes('{made[0]}')",
                               timeout=60_000)
        page.get_by_text(re.compile(r"^Delete$")).first.click()  # opens the accordion
        page.locator("#gallery-delete-confirm input").check()
        page.locator("#gallery-delete").click()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('2 items')",
                               timeout=60_000)
    assert made[0] not in {r["id"] for r in list_gallery(model=app_vae)[0]}
