"""The Write tab in headless Chromium: the shipped model streams into the page, Stop stops it, and the
finished text is rated from the tab."""
from __future__ import annotations

import re

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser


def test_write_streams_and_stop_stops(app, artifacts):
    from studio.services.gallery import gallery_item

    with browser_page(app.local_url) as page:
        open_tab(page, "Write")
        assert "fortunes-char" in page.locator("#write-model input").input_value()
        assert page.locator("#write-prompt textarea").input_value()  # it opens with an example prompt
        page.locator("#write-preset-poem").click()
        page.wait_for_function("document.querySelector('#write-prompt textarea').value.startsWith('A poem')")
        page.locator("#write-max-new-tokens input[type=number]").fill("2000")
        page.locator("#write-max-new-tokens input[type=number]").press("Enter")
        page.get_by_text("Sampling", exact=True).click()
        # The accordion mounts its fields as it opens: a value typed in that instant is lost (about one run
        # in three here), so type until the field holds it, as a person would see and retype.
        seed_box = page.locator("#write-seed input")
        for _ in range(10):
            seed_box.fill("3")
            page.wait_for_timeout(200)
            if seed_box.input_value() == "3":
                break
        assert seed_box.input_value() == "3"
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
        page.wait_for_function("document.querySelector('#write-status').innerText.includes('Done')",
                               timeout=120_000)
        assert output.input_value().startswith("A poem about the sea")

        # The finished text is kept in the gallery and rated from the tab (the stopped one is not kept).
        assert page.locator("#write-rate-item input").input_value() == "variation 1"
        page.locator("#write-stars").get_by_text("★★", exact=True).click()
        page.wait_for_function("document.querySelector('#write-rating-note').innerText.includes('Saved')",
                               timeout=60_000)
        note = page.locator("#write-rating-note").inner_text()
        saved = re.search(r"write item (\S+), seed 3: ★★", note)
        assert saved, note
        item = saved.group(1)
        record = gallery_item(item)
        assert record["rating"] == 2 and record["text"] == output.input_value()


def test_merge_a_lora_adapter_from_the_models_tab(app, artifacts, tmp_path):
    from studio.core import jobs
    from studio.core.registry import default_registry
    from studio.services.training import start_training
    from studio.train import run
    from tests.support.text import save_tiny_text_model, write_corpus

    save_tiny_text_model("browser-lora-base")
    result = start_training("lora", "browser-lora", base_model="browser-lora-base", files=write_corpus(tmp_path / "poems", 1),
                                 steps=2, batch_size=2, context=16,
                                 recipe={"eval_every": 1, "eval_windows": 2, "warmup_steps": 1}, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    with browser_page(app.local_url) as page:
        open_tab(page, "Models")
        page.get_by_role("button", name="Refresh").click()
        page.locator("#models-chooser input").click()
        page.get_by_role("option", name=re.compile(r"^browser-lora +\(lora")).click()
        page.wait_for_function("document.querySelector('#models-card').innerText.includes('browser-lora')",
                               timeout=60_000)
        page.get_by_text("Merge a LoRA adapter into its base model").click()
        page.locator("#models-merge-name input, #models-merge-name textarea").first.fill("browser-merged")
        page.locator("#models-merge").click()
        page.wait_for_function("document.querySelector('#models-message').innerText.includes('browser-merged')",
                               timeout=120_000)
        page.screenshot(path=str(artifacts / "models-merged-lora.png"), full_page=True)
    assert default_registry().get("browser-merged").family == "text"
