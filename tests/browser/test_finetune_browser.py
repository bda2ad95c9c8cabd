"""The Train tab in headless Chromium: choosing a base model fills in its family, size and colour, and a 30-step
LoRA fine-tune on 24 uploaded images runs to a saved adapter."""
from __future__ import annotations

import time

import pytest

from studio.core.registry import default_registry
from tests.services.test_diffusion_lora import TINY, colour_pngs
from tests.support.browser import browser_page, open_tab
from tests.support.files import write_zip
from tests.support.training import train_in_process

pytestmark = pytest.mark.browser
BASE = "browser-ft-base"


def box(page, elem_id: str):
    """A text box of the form (Gradio renders a one-line Textbox as a textarea)."""
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def test_a_lora_fine_tune_from_the_train_tab(app, artifacts, tmp_path):
    if not default_registry().exists(BASE):
        train_in_process("diffusion", BASE, steps=2, image_size=16, color=True,
                         recipe={"batch_size": 8, "preview_steps": 2}, config=TINY)
    paths = colour_pngs(tmp_path / "discs", 24, seed=5)
    archive = write_zip(tmp_path / "mine.zip", {p.name: p.read_bytes() for p in paths})
    with browser_page(app.local_url) as page:
        open_tab(page, "Train")
        box(page, "train-name").fill("browser-ft-lora")
        page.locator("#train-files input[type=file]").set_input_files(str(archive))
        page.get_by_text("Fine-tune a base model (diffusion)").click()
        page.locator("#train-base-model input").click()
        page.get_by_role("option", name=BASE, exact=True).click()
        # The base's size and colour mode are filled in.
        page.wait_for_function("document.querySelector('#train-size input').value === '16'", timeout=30_000)
        assert page.locator("#train-color input").is_checked()
        assert box(page, "train-name").input_value() == "browser-ft-lora"  # a typed name stays
        box(page, "train-rank").fill("4")
        page.get_by_text("Training settings").click()
        # The empty boxes show the LoRA fine-tune's defaults, not training from scratch's.
        page.wait_for_function("[...document.querySelectorAll('#train-steps input, #train-steps textarea')].some("
                               "e => e.placeholder === 'empty: 300, the default')", timeout=30_000)
        box(page, "train-steps").fill("30")
        box(page, "train-batch").fill("8")
        page.wait_for_timeout(500)  # the upload settles
        page.locator("#train-start").click()
        page.wait_for_function("document.querySelector('#train-summary').innerText.includes('completed')",
                               timeout=600_000)
        page.screenshot(path=str(artifacts / "train-finetune.png"), full_page=True)
    deadline = time.monotonic() + 60
    while not default_registry().exists("browser-ft-lora") and time.monotonic() < deadline:
        time.sleep(1)
    record = default_registry().get("browser-ft-lora")
    assert record.family == "diffusion-lora" and record.meta["config"]["base_model"] == BASE
    assert record.meta["config"]["r"] == 4 and record.meta["training"]["steps"] == 30
