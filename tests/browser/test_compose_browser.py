"""The Compose tab in headless Chromium, as it opens: pressing Compose shows the score, fills the ABC and
loads a recording that plays."""
from __future__ import annotations

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def test_compose_shows_the_score_and_plays(app, artifacts):
    with browser_page(app.local_url) as page:
        open_tab(page, "Compose")
        assert "folk-abc-char" in page.locator("#compose-model input").input_value()
        page.locator("#compose-button").click()
        page.wait_for_selector("#compose-score-svg svg", timeout=300_000)
        page.wait_for_function("document.querySelector('#compose-abc textarea').value.startsWith('X:1')",
                               timeout=60_000)
        abc = page.locator("#compose-abc textarea").input_value()
        assert abc.startswith("X:1") and "AI-generated" in abc and "K:D" in abc
        assert page.locator("#compose-score-svg svg .note").count() > 10
        page.wait_for_selector("#compose-audio audio", state="attached", timeout=60_000)
        duration = page.wait_for_function(
            "(() => { const a = document.querySelector('#compose-audio audio');"
            " return a && a.duration > 0 ? a.duration : false; })()", timeout=60_000).json_value()
        assert duration >= 5
        page.screenshot(path=str(artifacts / "compose.png"), full_page=True)
        # Play: the audio element's clock moves (muted, so headless Chromium may play without a gesture).
        page.evaluate("(() => { const a = document.querySelector('#compose-audio audio'); a.muted = true;"
                      " return a.play(); })()")
        page.wait_for_function("document.querySelector('#compose-audio audio').currentTime > 0.5",
                               timeout=30_000)
