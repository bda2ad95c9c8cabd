"""The real UI in headless Chromium: every tab renders, and the VAE generates images in the Generate tab."""
from __future__ import annotations

import re

import pytest

from tests.support.browser import browser_page, open_tab, table_values

pytestmark = pytest.mark.browser

TABS = ["Generate", "Interpolate", "Style", "Write", "Train", "Models"]


def test_every_tab_renders_and_the_vae_generates(app, artifacts):
    with browser_page(app.local_url) as page:
        for name in TABS:
            open_tab(page, name)
            page.screenshot(path=str(artifacts / f"tab-{name.lower()}.png"))
        for name in TABS:
            assert page.get_by_role("tab", name=name).is_visible()

        open_tab(page, "Generate")
        page.locator("#generate-model input").click()
        page.get_by_role("option", name=re.compile(r"^digits-vae")).click()
        page.wait_for_function("document.querySelector('#generate-model input').value.startsWith('digits-vae')")
        page.locator("#generate-seed input").fill("5")
        page.locator("#generate-button").click()
        images = page.locator("#generate-gallery img")
        images.first.wait_for(timeout=120_000)
        page.wait_for_function("document.querySelectorAll('#generate-gallery img').length >= 8", timeout=60_000)
        assert "seed 5" in page.locator("#generate-gallery").inner_text()
        page.screenshot(path=str(artifacts / "generate-vae.png"), full_page=True)
        params = table_values(page, "generate-table")
        assert params["model"] == "digits-vae" and "temperature" in params

        # Send a generated image to the Style tab as its content image.
        images.nth(2).click()
        open_tab(page, "Style")
        page.locator("#style-from-generate").click()
        page.wait_for_function("[...document.querySelectorAll('#style-content img')]"
                               ".some(i => i.src.includes('digits-vae-seed7'))", timeout=60_000)
        page.screenshot(path=str(artifacts / "style-from-generate.png"))

        open_tab(page, "Models")
        page.locator("#models-chooser input").click()
        page.get_by_role("option", name=re.compile(r"^digits-vae")).click()
        page.wait_for_function("document.querySelector('#models-card').innerText.includes('digits-vae')",
                               timeout=60_000)
        assert "python -m studio train" in page.locator("#models-card").inner_text()
        page.screenshot(path=str(artifacts / "models-card.png"), full_page=True)

        open_tab(page, "Train")
        assert page.locator("#train-start").is_visible()
        assert page.locator("#train-name input, #train-name textarea").first.is_visible()
