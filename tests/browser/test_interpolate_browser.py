"""The Interpolate tab in a real browser (headless Chromium): an animation from two seeds, and the Generate
tab's images taken as keyframes."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.browser import browser_page, open_tab, table_values

MODEL = "interp-test-vae"  # the `app_vae` fixture's model


@pytest.fixture(scope="module")
def vae(app_vae):
    return app_vae


@pytest.mark.browser
def test_browser_builds_an_animation_from_two_seeds(app, vae, artifacts):
    with browser_page(app.local_url) as page:
        open_tab(page, "Interpolate")
        dropdown = page.locator("#interpolate-model input")
        dropdown.click()
        dropdown.fill(MODEL)
        page.get_by_role("option", name=MODEL).first.click()
        page.locator("#interpolate-seeds textarea, #interpolate-seeds input").first.fill("11, 42")
        frames = page.locator("#interpolate-frames input[type=number]")
        frames.fill("4")
        frames.press("Enter")
        page.locator("#interpolate-button").click()
        gif = page.locator("#interpolate-gif img")
        gif.wait_for(timeout=120_000)
        src = gif.get_attribute("src")
        assert ".gif" in src
        with Image.open(io.BytesIO(page.request.get(src).body())) as im:  # the GIF the page shows, animated
            assert im.format == "GIF" and im.n_frames == 5
        page.wait_for_function("document.querySelectorAll('#interpolate-frames-gallery img').length >= 5",
                               timeout=60_000)
        assert table_values(page, "interpolate-table")["model"] == MODEL
        page.screenshot(path=str(artifacts / "interpolate-two-seeds.png"), full_page=True)


@pytest.mark.browser
def test_browser_sends_generate_images_as_keyframes(app, vae):
    with browser_page(app.local_url) as page:
        open_tab(page, "Generate")
        dropdown = page.locator("#generate-model input")
        dropdown.click()
        dropdown.fill(MODEL)
        page.get_by_role("option", name=MODEL).first.click()
        count = page.locator("#generate-count input[type=number]")
        count.fill("2")
        count.press("Enter")
        page.locator("#generate-seed input").fill("5")
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelectorAll('#generate-gallery img').length >= 2", timeout=120_000)
        open_tab(page, "Interpolate")
        page.locator("#interpolate-use-all").click()
        seeds = page.locator("#interpolate-seeds textarea, #interpolate-seeds input").first
        page.wait_for_function("(el) => el.value === '5, 6'", arg=seeds.element_handle(), timeout=30_000)
        assert MODEL in page.locator("#interpolate-model input").input_value()
