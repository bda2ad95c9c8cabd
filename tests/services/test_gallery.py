"""The gallery service: every output kept, ratings that survive a restart, filters, bad ids and ratings, a
folder edited by hand, and the size cap."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core import gallery as store
from studio.core.errors import StudioError
from studio.services import gallery as g
from studio.services.generate import generate
from studio.services.interpolate import interpolate
from tests.support.files import png_bytes, save_tiny_vae

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def tiny(isolated_home):
    save_tiny_vae(None, "gallery-vae", image_size=16, channels=1, seed=1)
    return "gallery-vae"


def _favourites_in_a_new_process(home: Path) -> list[str]:
    """List favourite ids from a fresh Python process: what a restarted studio would read."""
    code = ("import json; from studio.services.gallery import list_gallery; "
            "print(json.dumps([r['id'] for r in list_gallery(favourites=True)[0]]))")
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_generate_rate_restart_and_filter_gives_back_exactly_the_rated_items(tiny, isolated_home):
    made = generate(tiny, count=6, seed=40)
    assert len(made.gallery_ids) == 6
    records, notes = g.list_gallery()
    assert notes == [] and [r["id"] for r in records] == made.gallery_ids[::-1]  # newest first
    first = records[-1]
    assert first["kind"] == "generate" and first["model"] == tiny and first["seed"] == 40
    assert first["parameters"]["batch"] == {"seed": 40, "count": 6, "index": 0}
    assert Path(first["files"][0]).read_bytes() == made.files[0].read_bytes()

    favourites = [made.gallery_ids[1], made.gallery_ids[4]]
    for item in favourites:
        assert g.rate(item, favourite=True)["favourite"] is True
    g.rate(made.gallery_ids[2], stars=4)
    g.rate(made.gallery_ids[4], stars=5)
    assert g.rate(made.gallery_ids[4], favourite=True)["rating"] == 5  # stars left empty stay as they are

    assert sorted(_favourites_in_a_new_process(isolated_home)) == sorted(favourites)
    assert sorted(r["id"] for r in g.list_gallery(favourites=True)[0]) == sorted(favourites)
    assert sorted(r["id"] for r in g.list_gallery(min_rating=4)[0]) == sorted([made.gallery_ids[2],
                                                                                 made.gallery_ids[4]])
    assert [r["id"] for r in g.list_gallery(min_rating=5, favourites=True)[0]] == [made.gallery_ids[4]]
    assert g.list_gallery(kind="write")[0] == [] and g.list_gallery(model="another")[0] == []
    today = first["created"][:10]
    assert len(g.list_gallery(since=today, until=today)[0]) == 6 and g.list_gallery(until="2000-01-01")[0] == []

    assert g.delete_from_gallery(made.gallery_ids[0]).startswith("deleted")
    assert len(g.list_gallery()[0]) == 5
    with pytest.raises(StudioError, match="no gallery item"):
        g.gallery_item(made.gallery_ids[0])


def test_bad_ids_ratings_and_filters_are_refused(tiny):
    item = generate(tiny, count=1, seed=1).gallery_ids[0]
    for bad in ("../secret", "a/b", item + "/../..", "..", "x\\y"):
        with pytest.raises(StudioError, match="no path parts"):
            g.rate(bad, stars=1)
    for bad in ("20991231-000000-00000000", "hello"):
        with pytest.raises(StudioError, match="no gallery item|not a gallery item id"):
            g.gallery_item(bad)
    for bad, why in ((6, "between 0 and 5"), (-1, "between 0 and 5"), (2.5, "whole number"),
                     ("three", "whole number")):
        with pytest.raises(StudioError, match=why):
            g.rate(item, stars=bad)
    with pytest.raises(StudioError, match="favourite must be true or false"):
        g.rate(item, favourite="maybe")
    with pytest.raises(StudioError, match="give stars"):
        g.rate(item)
    with pytest.raises(StudioError, match="kind must be one of"):
        g.list_gallery(kind="sculpture")
    with pytest.raises(StudioError, match="since must be a date"):
        g.list_gallery(since="last week")
    assert g.gallery_item(item)["rating"] == 0  # nothing above changed it


def test_a_folder_edited_by_hand_is_read_with_notes_never_a_crash(tiny, isolated_home):
    kept, broken, emptied, escaping = generate(tiny, count=4, seed=3).gallery_ids
    root = isolated_home / "gallery"
    (root / "notes.txt").write_text("a stray file")
    (root / "holiday-photos").mkdir()
    (root / broken / "item.json").write_text("{ not json")
    for f in (root / emptied).glob("*.png"):
        f.unlink()
    data = json.loads((root / escaping / "item.json").read_text())
    data["files"] = ["../" + kept + "/item.json"] + data["files"]
    data["rating"] = "lots"
    (root / escaping / "item.json").write_text(json.dumps(data))
    (root / kept / "extra.txt").write_text("added by hand")
    (root / "20261123-191602-3fa2c1d0").mkdir()  # an item folder with no item.json

    records, notes = g.list_gallery()
    assert sorted(r["id"] for r in records) == sorted([kept, escaping])
    escaped = next(r for r in records if r["id"] == escaping)
    assert escaped["rating"] == 0 and all(Path(f).parent == root / escaping for f in escaped["files"])
    text = "\n".join(notes)
    for expected in ("notes.txt: not a gallery item", "holiday-photos: not a gallery item id",
                     f"{broken}: item.json is not readable JSON", f"{emptied}: none of its files is left",
                     "is not allowed in an item", f"{escaping}: rating 'lots'", f"{kept}: ignored files",
                     "20261123-191602-3fa2c1d0: no item.json"):
        assert expected in text, (expected, text)
    with pytest.raises(StudioError, match="cannot be read"):
        g.rate(broken, stars=2)
    assert g.rate(kept, stars=2)["rating"] == 2


def test_the_size_cap_removes_oldest_unrated_first_and_never_favourites(isolated_home, monkeypatch):
    big = png_bytes((300, 300), "RGB", seed=0)  # about 270 KB: random pixels do not compress
    oldest, rated_low, favourite, rated_high, newer = (
        g.save_to_gallery("style", [_file(big, f"image{i}.png")], model="m") for i in range(5))
    g.rate(rated_low, stars=1)
    g.rate(rated_high, stars=4)
    g.rate(favourite, favourite=True)
    order = [i.id for i in store.removal_order(store.read_items()[0])]
    assert order == [oldest, newer, rated_low, rated_high]

    monkeypatch.setenv("STUDIO_GALLERY_MB", "1")  # room for 3 items
    item, removed = store.add_item("style", "m", [("image.png", big)], {})
    assert removed == [oldest, newer, rated_low]
    assert {r["id"] for r in g.list_gallery()[0]} == {favourite, rated_high, item.id}


def test_every_tab_saves_its_outputs(tiny, monkeypatch):
    from studio.core.environment import REPO_ROOT
    from studio.services.stylize import stylize
    from studio.services.write import stream

    monkeypatch.setenv("STUDIO_CHECKPOINTS", str(REPO_ROOT / "checkpoints"))  # fortunes-char writes
    animation = interpolate(tiny, seeds="1, 2", frames=3)
    styled = stylize(_file(png_bytes((80, 64), "RGB", seed=1), "content.png"),
                     _file(png_bytes((64, 64), "RGB", seed=2), "style.png"), method="optimization", size=64, steps=1)
    *_, written = stream("The sea", model="fortunes-char", max_new_tokens=12, seed=3, variations=2)
    quiet = generate(tiny, count=1, seed=1, gallery=False)
    assert quiet.gallery_ids == []

    records = {r["id"]: r for r in g.list_gallery()[0]}
    gif = records[animation.gallery_id]
    assert gif["kind"] == "interpolate" and gif["model"] == tiny and gif["seed"] == 1
    assert {Path(f).suffix for f in gif["files"]} == {".png", ".gif", ".mp4", ".json"}
    assert gif["preview"].endswith("sheet.png")
    assert gif["parameters"]["total_frames"] == 4  # 3 per segment, and the last keyframe
    style = records[styled.gallery_id]
    assert style["kind"] == "style" and style["model"] == "optimization" and style["seed"] == 0
    assert len(written.gallery_ids) == 2
    for item, text in zip(written.gallery_ids, written.texts):
        record = records[item]
        assert record["kind"] == "write" and record["model"] == "fortunes-char" and record["text"] == text
        assert record["parameters"]["prompt"] == "The sea" and record["preview"].endswith("preview.png")
    assert [records[i]["seed"] for i in written.gallery_ids] == [3, 4]
    assert len(records) == 4


def _file(data: bytes, name: str) -> str:
    import tempfile

    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return str(path)


def test_a_gallery_that_cannot_be_written_never_costs_the_output(tiny, isolated_home):
    (isolated_home / "gallery").write_text("a file where the gallery folder should be")
    made = generate(tiny, count=2, seed=1)
    assert made.gallery_ids == [None, None] and all(p.is_file() for p in made.files)
