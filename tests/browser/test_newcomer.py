"""A newcomer in headless Chromium at 1400x900: every tab, opened on a fresh page, works by pressing its main
button with the form as it opens; the button is in view without scrolling; no error message appears.
Stop during a long generation ends the server's computation (its CPU use falls); the live loss chart of a
job started in the page draws one line per loss, named in its legend.

Screenshots of every tab before and after its main action go to test-artifacts/ (newcomer-*.png).
"""
from __future__ import annotations

import re
import time

import pytest

from tests.support.browser import ERRORS_SHOWN, browser_page, open_tab, set_number
from tests.support.cpu import cpu_use

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1400, 900

# tab, main button, where the result shows, what the result says when it is there
TABS = [
    ("Generate", "generate-button", "generate-status", "Done"),
    ("Interpolate", "interpolate-button", "interpolate-status", "Done"),
    ("Style", "style-button", "style-status", "Done"),
    ("Write", "write-button", "write-status", "Done"),
    ("Compose", "compose-button", "compose-status", "Done"),
    ("Train", "train-start", "train-summary", "step"),
    ("Models", "models-export", "models-message", "Exported"),
    ("Gallery", "gallery-show", "gallery-count", "item"),
]


@pytest.mark.parametrize("tab,button,result,done", TABS, ids=[t[0] for t in TABS])
def test_each_tab_works_as_it_opens(app, artifacts, tab, button, result, done):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, tab)
        page.wait_for_timeout(1000)  # the tab's lists refresh as it opens
        box = page.locator(f"#{button}").bounding_box()
        assert box is not None and box["y"] + box["height"] <= HEIGHT, f"{tab}'s main button is below the fold: {box}"
        page.screenshot(path=str(artifacts / f"newcomer-{tab.lower()}-before.png"))

        page.locator(f"#{button}").click()
        page.wait_for_function("([id, done]) => document.querySelector('#' + id).innerText.includes(done)",
                               arg=[result, done], timeout=300_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / f"newcomer-{tab.lower()}-after.png"))
        assert page.locator(ERRORS_SHOWN).count() == 0, page.locator(ERRORS_SHOWN).all_inner_texts()

        if tab == "Generate":
            assert page.locator("#generate-gallery img").count() >= 1
            assert "model" in page.locator("#generate-table").inner_text()
        elif tab == "Interpolate":  # every column of the frame gallery is whole, none cut by its edge
            edge = page.locator("#interpolate-frames-gallery").bounding_box()
            rights = [b["x"] + b["width"] for b in (i.bounding_box() for i in
                                                    page.locator("#interpolate-frames-gallery img").all()) if b]
            assert len(rights) >= 8 and max(rights) <= edge["x"] + edge["width"], (rights, edge)
        elif tab == "Write":
            assert len(page.locator("#write-output-0 textarea").input_value()) > len("The sea at night")
            # the rating row's star choices: one line, none cut off by the row's edge, in this narrower column
            row = page.locator("#write-stars").bounding_box()
            stars = [b for b in (s.bounding_box() for s in page.locator("#write-stars label").all()) if b]
            assert len(stars) == 6 and len({round(b["y"]) for b in stars}) == 1, stars
            assert max(b["x"] + b["width"] for b in stars) <= row["x"] + row["width"], (stars, row)
        elif tab == "Compose":
            assert page.locator("#compose-score-svg svg .note").count() > 10
            assert page.locator("#compose-abc textarea").input_value().startswith("X:1")
            assert "seed" in page.locator("#compose-table").inner_text()
            score, frame = (page.locator(q).bounding_box() for q in ("#compose-score-svg > svg", "#compose-score-svg"))
            assert score["x"] + score["width"] <= frame["x"] + frame["width"], (score, frame)  # whole lines in view
        elif tab == "Train":
            job = page.locator("#train-job input").input_value()
            assert re.search(r"my-vae", job), job
            page.locator("#train-cancel").click()  # leave the machine to the other tests
            page.wait_for_function("document.querySelector('#train-summary').innerText.startsWith('cancelled')",
                                   timeout=120_000)
        elif tab == "Models":
            assert page.locator("#models-exported").is_visible()
        elif tab == "Gallery":  # a fresh studio has made nothing yet, or what the tabs above made shows
            said = page.locator("#gallery-count").inner_text()
            if int(re.match(r"\d+", said).group()) == 0:
                assert "what you make in Generate" in said, said  # says where items come from
            else:
                assert page.locator("#gallery-grid img").count() >= 1


def test_small_images_are_shown_big_and_crisp(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Generate")
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Done')",
                               timeout=300_000)
        for selector in ("#generate-gallery .thumbnail-item img", "#generate-grid img"):
            shown = page.evaluate(
                "(s) => { const i = document.querySelector(s); const b = i.getBoundingClientRect();"
                " return {width: b.width, natural: i.naturalWidth, rendering: getComputedStyle(i).imageRendering}; }",
                selector)
            assert shown["width"] >= 2 * shown["natural"] and shown["rendering"] == "pixelated", (selector, shown)
        # The gallery offers the PNG as made (its pixels unscaled), not a display copy.
        src = page.locator("#generate-gallery .thumbnail-item img").first.get_attribute("src")
        from io import BytesIO

        from PIL import Image
        with Image.open(BytesIO(page.request.get(src).body())) as im:
            assert im.format == "PNG" and im.size[0] <= 64
        assert page.locator("#generate-gallery").get_by_text("Drop Media Here").count() == 0


def test_stop_ends_a_long_generation_and_says_so(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Generate")
        dropdown = page.locator("#generate-model input")
        dropdown.click()
        dropdown.fill("digits-diffusion")
        page.get_by_role("option", name=re.compile(r"^digits-diffusion")).first.click()
        set_number(page, "generate-count", 64)
        set_number(page, "generate-steps", 200)
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('step')",
                               timeout=300_000)
        busy = cpu_use(2.0)
        page.locator("#generate-stop").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Stopped')",
                               timeout=60_000)
        time.sleep(1.0)
        after = cpu_use(2.0)
        page.screenshot(path=str(artifacts / "newcomer-generate-stopped.png"))
        assert after < 0.5 * busy, f"the server kept computing after Stop: {busy:.2f} -> {after:.2f} CPUs"
        assert page.locator(ERRORS_SHOWN).count() == 0

        # The page is usable at once: a short batch runs to the end.
        set_number(page, "generate-count", 2)
        set_number(page, "generate-steps", 10)
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Done')",
                               timeout=300_000)


def test_stop_ends_a_long_compose_and_keeps_what_was_finished(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Compose")
        set_number(page, "compose-bars", 64)
        page.locator("#compose-button").click()
        page.wait_for_function("/bar [3-9]\\d* of 64|bar \\d\\d of 64/.test("
                               "document.querySelector('#compose-status').innerText)", timeout=300_000)
        busy = cpu_use(2.0)
        page.locator("#compose-stop").click()
        page.wait_for_function("document.querySelector('#compose-status').innerText.startsWith('Stopped')",
                               timeout=60_000)
        time.sleep(1.0)
        after = cpu_use(2.0)
        page.screenshot(path=str(artifacts / "newcomer-compose-stopped.png"))
        assert after < 0.5 * busy, f"the server kept composing after Stop: {busy:.2f} -> {after:.2f} CPUs"
        assert page.locator(ERRORS_SHOWN).count() == 0
        status = page.locator("#compose-status").inner_text()
        abc = page.locator("#compose-abc textarea").input_value()
        # what was finished is kept (a tune cut at its last full bar) and said to be stopped
        assert "stopped after" in status and abc.startswith("X:1") and '"stopped": true' in abc, status


def test_a_refusal_is_a_message_that_stays_and_leaves_the_form_usable(app, artifacts, tmp_path):
    foreign = tmp_path / "foreign.png"
    from PIL import Image
    Image.new("RGB", (8, 8), "red").save(foreign)
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Generate")
        page.get_by_text("Reuse parameters from a PNG").click()
        page.locator("#generate-reuse input[type=file]").set_input_files(str(foreign))
        message = page.locator(ERRORS_SHOWN)
        message.first.wait_for(timeout=60_000)
        assert "no studio parameters" in page.locator(".toast-body").first.inner_text()
        page.wait_for_timeout(12_000)  # longer than Gradio's default 10 s: the message is still there
        assert message.count() == 1
        page.screenshot(path=str(artifacts / "newcomer-refusal.png"))
        # No "Error" badge covers the form, and it still works.
        assert page.locator("#generate-model .error, #generate-seed .error").count() == 0
        page.locator("#generate-seed input").fill("")  # an empty seed means a random one
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Done')",
                               timeout=300_000)


def test_the_live_loss_chart_shows_each_loss(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Train")
        page.get_by_text("Training settings").click()
        page.locator("#train-steps input, #train-steps textarea").first.fill("300")
        page.locator("#train-start").click()
        page.wait_for_function("document.querySelectorAll('#train-chart polyline').length >= 3", timeout=600_000)
        page.wait_for_function(
            "[...document.querySelectorAll('#train-chart polyline')]"
            ".every(l => l.dataset.points.split(';').length >= 3)", timeout=600_000)
        lines = page.evaluate("[...document.querySelectorAll('#train-chart polyline')]"
                              ".map(l => [l.dataset.loss, l.dataset.points.split(';').length])")
        legend = page.locator("#train-chart .legend .entry").all_inner_texts()
        page.screenshot(path=str(artifacts / "newcomer-train-chart.png"))
        page.locator("#train-cancel").click()
        # The worker stops at its first step, after importing torch and building the model: slow on a busy CPU
        page.wait_for_function("document.querySelector('#train-summary').innerText.startsWith('cancelled')",
                               timeout=300_000)
        names = {name for name, _ in lines}
        assert names == {"loss", "reconstruction", "kl"}, lines
        assert all(any(text.startswith(name) for text in legend) for name in names), legend
        assert page.locator("#train-chart svg text").count() < 40  # round-numbered ticks, not a label per value


def _options(page, elem_id: str) -> list[str]:
    page.locator(f"#{elem_id} input").click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def test_a_new_model_appears_in_every_tab_without_a_reload(app, artifacts):
    from studio.core.registry import default_registry
    from studio.services.models import delete_model, rename_model
    from tests.support.files import save_tiny_vae

    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Generate")
        assert not any(o.startswith("late-vae") for o in _options(page, "generate-model"))
        if not default_registry().exists("late-vae"):
            save_tiny_vae(None, "late-vae")  # as a job finishing, an import or a script would add it
        for tab, dropdown in (("Interpolate", "interpolate-model"), ("Generate", "generate-model")):
            open_tab(page, tab)
            page.wait_for_timeout(1000)
            assert any(o.startswith("late-vae") for o in _options(page, dropdown)), tab
        open_tab(page, "Models")
        page.wait_for_timeout(1000)
        assert any(o.startswith("late-vae") for o in _options(page, "models-chooser"))
        rename_model("late-vae", "late-vae-renamed")
        open_tab(page, "Generate")
        page.wait_for_timeout(1000)
        options = _options(page, "generate-model")
        assert any(o.startswith("late-vae-renamed") for o in options)
        assert not any(o.startswith("late-vae ") for o in options)
        delete_model("late-vae-renamed")
        open_tab(page, "Interpolate")
        page.wait_for_timeout(1000)
        assert not any(o.startswith("late-vae") for o in _options(page, "interpolate-model"))


def test_stop_in_style_keeps_the_result_so_far(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Style")
        page.locator("#style-method input").click()
        page.get_by_role("option", name="optimization", exact=True).click()
        page.get_by_text("More settings").click()
        set_number(page, "style-size", 128)
        set_number(page, "style-steps", 2000)
        page.locator("#style-button").click()
        page.wait_for_function("document.querySelector('#style-status').innerText.includes('step')",
                               timeout=300_000)
        page.locator("#style-stop").click()
        page.wait_for_function("document.querySelector('#style-status').innerText.includes('stopped at step')",
                               timeout=120_000)
        page.screenshot(path=str(artifacts / "newcomer-style-stopped.png"))
        assert page.locator(ERRORS_SHOWN).count() == 0
        assert "stylized-optimization" in page.locator("#style-png").inner_text()


def test_the_text_training_form_works_as_it_opens(app, artifacts):
    with browser_page(app.local_url, WIDTH, HEIGHT) as page:
        open_tab(page, "Train")
        page.get_by_text("Train a text model").click()
        page.locator("#train-text-start").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "newcomer-train-text-before.png"))
        page.locator("#train-text-start").click()
        page.wait_for_function("document.querySelector('#train-job input').value.includes('my-text')",
                               timeout=300_000)
        page.wait_for_function("document.querySelector('#train-summary').innerText.match(/starting|running/)",
                               timeout=120_000)
        page.screenshot(path=str(artifacts / "newcomer-train-text-after.png"))
        assert page.locator(ERRORS_SHOWN).count() == 0, page.locator(".toast-body").all_inner_texts()
        assert "characters" in page.locator("#train-report textarea").input_value()
        page.locator("#train-cancel").click()
        # The worker stops at its first step, after importing torch and building the model: slow on a busy CPU
        page.wait_for_function("document.querySelector('#train-summary').innerText.startsWith('cancelled')",
                               timeout=300_000)
