"""The Write tab in headless Chromium: the shipped model streams into the page, and Stop stops it."""
from __future__ import annotations

import pytest

from tests.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def test_write_streams_and_stop_stops(app, artifacts):
    with browser_page(app.local_url) as page:
        open_tab(page, "Write")
        assert "fortunes-char" in page.locator("#write-model input").input_value()
        page.locator("#write-preset-poem").click()
        page.wait_for_function("document.querySelector('#write-prompt textarea').value.startsWith('A poem')")
        page.locator("#write-max-new-tokens input[type=number]").fill("2000")
        page.locator("#write-max-new-tokens input[type=number]").press("Enter")
        page.locator("#write-seed input").fill("3")
        page.locator("#write-button").click()
        output = page.locator("#write-output-0 textarea")
        # Streaming: the text grows past the prompt while the model is still writing.
        page.wait_for_function("document.querySelector('#write-output-0 textarea').value.length > 60",
                               timeout=120_000)
        page.locator("#write-stop-button").click()
        page.wait_for_timeout(1500)
        stopped = output.input_value()
        page.wait_for_timeout(1500)
        assert output.input_value() == stopped  # nothing arrives after Stop
        assert stopped.startswith("A poem about the sea") and len(stopped) < len("A poem about the sea\n\n") + 2000
        page.screenshot(path=str(artifacts / "write-stopped.png"), full_page=True)
        # The app keeps serving: a short run completes.
        page.locator("#write-max-new-tokens input[type=number]").fill("40")
        page.locator("#write-max-new-tokens input[type=number]").press("Enter")
        page.locator("#write-button").click()
        page.wait_for_function("document.querySelector('#write-info').innerText.replace(/\\s/g, '')"
                               ".includes('\"done\":true')", timeout=120_000)
        assert output.input_value().startswith("A poem about the sea")
