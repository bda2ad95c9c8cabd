"""The Compose tab in headless Chromium, as it opens: pressing Compose shows the score, fills the ABC and
loads a recording that plays; the tune is kept in the gallery and marked a favourite from the tab."""
from __future__ import annotations

import re

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def test_compose_shows_the_score_and_plays(app, artifacts):
    from studio.services.gallery import gallery_item

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
        # The recording: the browser fetches the WAV the player links to and decodes it (at least 5 s).
        href = page.locator("#compose-audio a[download]").get_attribute("href")
        assert href.endswith(".wav")
        duration = page.evaluate("(async (url) => { const data = await (await fetch(url)).arrayBuffer();"
                                 " const ctx = new OfflineAudioContext(1, 1, 22050);"
                                 " return (await ctx.decodeAudioData(data)).duration; })", href)
        assert duration >= 5
        page.screenshot(path=str(artifacts / "compose.png"), full_page=True)
        # Play: the player's Play button turns into Pause while it plays.
        page.locator("#compose-audio button[aria-label='Play']").first.click()
        page.wait_for_selector("#compose-audio button[aria-label='Pause']", timeout=30_000)

        # The tune is kept in the gallery and marked a favourite from the tab.
        page.wait_for_function("document.querySelector('#compose-rating-note').innerText.includes('Kept')",
                               timeout=60_000)
        page.locator("#compose-favourite input").check()
        page.wait_for_function("document.querySelector('#compose-rating-note').innerText.includes('favourite')",
                               timeout=60_000)
        item = re.search(r"music item (\S+),", page.locator("#compose-rating-note").inner_text()).group(1)
        record = gallery_item(item)
        assert record["favourite"] and record["kind"] == "music" and record["text"] == abc
