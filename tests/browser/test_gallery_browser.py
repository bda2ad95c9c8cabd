"""Rating in headless Chromium: Generate's rating row rates the image chosen in its result, and the Gallery
tab shows it when opened; in the Gallery tab what Generate made shows up, opens at full size, takes a rating
and a favourite mark (kept on disk), filters down to the favourites, and is deleted."""
from __future__ import annotations

import re
import time

import pytest

from tests.support.browser import browser_page, open_tab

pytestmark = pytest.mark.browser
# The value of one row of a key/value table (`studio.ui.views.key_values`), or null.
ROW = ("((id, key) => {{ const row = [...document.querySelectorAll('#' + id + ' tr')]"
       ".find(r => r.querySelector('th').innerText === key); return row ? row.querySelector('td').innerText"
       " : null; }})('{0}', '{1}')")


def _wait_row(page, table: str, key: str, value: str) -> None:
    page.wait_for_function(f"{ROW.format(table, key)} === {value!r}", timeout=60_000)


def test_generate_rates_the_chosen_image_into_the_gallery(app, artifacts):
    from studio.core.registry import default_registry
    from studio.services.gallery import list_gallery
    from tests.support.browser import set_number
    from tests.support.files import save_tiny_vae

    model = "browser-generate-rating-vae"  # its own model, so the counts are this test's
    if not default_registry().exists(model):
        save_tiny_vae(None, model, image_size=16, channels=1, seed=6)

    def by_seed() -> dict[int, dict]:
        return {r["seed"]: r for r in list_gallery(model=model)[0]}

    with browser_page(app.local_url) as page:
        page.locator("#generate-model input").click()
        page.get_by_role("option", name=re.compile(f"^{model} ")).click()
        set_number(page, "generate-count", 3)
        page.locator("#generate-seed input").fill("40")
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Done')",
                               timeout=120_000)
        assert page.locator("#generate-gallery img").count() == 3
        assert "Kept in the Gallery" in page.locator("#generate-rating-note").inner_text()
        assert page.locator("#generate-rate-item input").input_value() == "seed 40"  # the first is chosen

        page.locator("#generate-stars").get_by_text("★★★", exact=True).click()
        page.wait_for_function("document.querySelector('#generate-rating-note').innerText.includes('Saved')",
                               timeout=60_000)
        assert "seed 40: ★★★" in page.locator("#generate-rating-note").inner_text()
        assert by_seed()[40]["rating"] == 3 and not by_seed()[40]["favourite"]  # on disk

        page.locator("#generate-gallery img").nth(2).click()  # the third image: seed 42
        page.wait_for_function("document.querySelector('#generate-rate-item input').value === 'seed 42'",
                               timeout=60_000)
        page.keyboard.press("Escape")  # close the gallery's preview, if it opened
        assert page.locator("#generate-stars input[value='0']").is_checked()  # shown as it is: unrated
        page.locator("#generate-favourite input").check()
        page.wait_for_function("document.querySelector('#generate-rating-note').innerText.includes('favourite')",
                               timeout=60_000)
        page.screenshot(path=str(artifacts / "generate-rating.png"), full_page=True)
        tops = {round(b["y"]) for b in (s.bounding_box() for s in page.locator("#generate-stars label").all())}
        assert len(tops) == 1, f"the stars wrap onto {len(tops)} lines"  # one row of choices at 1400 px
        saved = by_seed()
        assert saved[42]["favourite"] and saved[42]["rating"] == 0
        assert saved[40]["rating"] == 3 and not saved[41]["favourite"] and saved[41]["rating"] == 0

        # The Gallery tab, opened now, lists the favourite without a reload.
        open_tab(page, "Gallery")
        page.locator("#gallery-model input").click()
        page.get_by_role("option", name=model).click()
        page.locator("#gallery-favourites input").check()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('1 item')",
                               timeout=60_000)
        page.locator("#gallery-grid img").first.click()
        _wait_row(page, "gallery-table", "seed", "42")
        _wait_row(page, "gallery-table", "favourite", "True")


def test_browse_rate_favourite_filter_and_delete(app, artifacts):
    from studio.core.registry import default_registry
    from studio.services.gallery import gallery_item, list_gallery
    from studio.services.generate import generate
    from tests.support.files import save_tiny_vae

    model = "browser-rating-vae"  # its own model: other tests' items stay out of this one's counts
    if not default_registry().exists(model):
        save_tiny_vae(None, model, image_size=16, channels=1, seed=5)
    made = generate(model, count=3, seed=70).gallery_ids
    with browser_page(app.local_url) as page:
        open_tab(page, "Gallery")
        page.locator("#gallery-model input").click()
        page.get_by_role("option", name=model).click()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('3 items')",
                               timeout=60_000)
        tiles = page.locator("#gallery-grid img")
        assert tiles.count() == 3
        tiles.first.click()  # the newest: seed 72
        _wait_row(page, "gallery-table", "id", made[2])
        assert page.locator("#gallery-full img").is_visible()
        page.screenshot(path=str(artifacts / "gallery-item.png"), full_page=True)

        page.locator("#gallery-stars").get_by_text("★★★★", exact=True).click()
        _wait_row(page, "gallery-table", "rating", "4")
        page.locator("#gallery-favourite input").check()
        _wait_row(page, "gallery-table", "favourite", "True")
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
        _wait_row(page, "gallery-table", "id", made[0])
        page.get_by_text(re.compile(r"^Delete$")).first.click()  # opens the accordion
        page.locator("#gallery-delete-confirm input").check()
        page.locator("#gallery-delete").click()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('2 items')",
                               timeout=60_000)
    assert made[0] not in {r["id"] for r in list_gallery(model=model)[0]}


def test_check_originality_and_start_a_fine_tune_from_the_gallery(app, artifacts, tmp_path):
    from studio.core import jobs
    from studio.services.gallery import rate
    from studio.services.generate import generate
    from tests.support.files import digit_pngs
    from tests.support.training import train_in_process

    train_in_process("vae", "browser-gallery-vae", steps=2, image_size=16,
                     files=[str(p) for p in digit_pngs(tmp_path / "digits", count=24, size=16)])
    made = generate("browser-gallery-vae", count=2, seed=5).gallery_ids
    for item in made:
        rate(item, favourite=True)
    with browser_page(app.local_url) as page:
        open_tab(page, "Gallery")
        page.locator("#gallery-model input").click()
        page.get_by_role("option", name="browser-gallery-vae").click()
        page.wait_for_function("document.querySelector('#gallery-count').innerText.includes('2 items')",
                               timeout=60_000)
        page.locator("#gallery-grid img").first.click()
        _wait_row(page, "gallery-table", "id", made[1])
        page.get_by_text("Originality: is it new").click()
        page.locator("#gallery-check").click()
        page.wait_for_function("document.querySelector('#gallery-verdict').innerText.includes('24 training images')",
                               timeout=120_000)
        assert "new" in page.locator("#gallery-verdict").inner_text()
        page.wait_for_function("document.querySelectorAll('#gallery-nearest img').length == 4", timeout=60_000)
        page.screenshot(path=str(artifacts / "gallery-originality.png"), full_page=True)

        page.get_by_text("Fine-tune a model on its favourites").click()
        page.locator("#gallery-ft-model input").click()
        page.get_by_role("option", name=re.compile(r"^browser-gallery-vae ")).click()
        page.locator("#gallery-ft-name input, #gallery-ft-name textarea").first.fill("browser-gallery-tuned")
        page.locator("#gallery-ft-steps input").fill("2")
        page.locator("#gallery-ft-start").click()
        page.wait_for_function("document.querySelector('#gallery-ft-table').innerText.includes('gallery items')",
                               timeout=60_000)
    job = next(j["job"] for j in jobs.list_jobs() if j.get("model") == "browser-gallery-tuned")
    deadline = time.monotonic() + 600  # a safety stop for a hung worker, not a speed check
    while jobs.status(job)["state"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(1)
    assert jobs.status(job)["state"] == "completed"
