"""Ratings survive a restart: the studio served from its own process generates, its images are rated, the
server is stopped and started again on the same STUDIO_HOME, and filtering for favourites gives back exactly
the rated items, with their files, although the request outputs they came from have been swept away."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.support.server import StudioServer

MODEL = "digits-vae"  # shipped: samples in milliseconds


def _gallery(client, **filters) -> list[dict]:
    return client.predict(model=MODEL, api_name="/gallery", **filters)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Request outputs older than a minute go at start-up, as on a server running for a while.
    with StudioServer(tmp_path_factory.mktemp("restart"), env={"STUDIO_OUTPUT_MINUTES": "1"}) as served:
        yield served


def test_generate_rate_restart_and_filter_for_favourites_gives_back_exactly_the_rated_items(server):
    client = server.client()
    files, _, _, info = client.predict(model=MODEL, count=6, seed=300, api_name="/generate")
    ids = info["gallery_ids"]
    assert len(ids) == len(files) == 6 and all(ids)
    made = {r["id"]: r for r in _gallery(client)}
    assert set(made) == set(ids) and all(r["rating"] == 0 and not r["favourite"] for r in made.values())

    favourites = {ids[0]: 5, ids[3]: 2, ids[4]: 0}  # a favourite need not have stars
    for item, stars in favourites.items():
        client.predict(item=item, stars=stars, favourite=True, api_name="/rate")
    client.predict(item=ids[1], stars=3, api_name="/rate")  # rated, not a favourite
    client.predict(item=ids[2], favourite=False, api_name="/rate")  # touched, still neither

    # Age the request outputs (where /generate wrote its PNGs) so the restart sweeps them.
    outputs = Path(server.env["GRADIO_TEMP_DIR"]) / "studio-outputs"
    folders = [p for p in outputs.iterdir() if p.is_dir()]
    assert folders
    old = time.time() - 7200
    for folder in folders:
        os.utime(folder, (old, old))

    server.stop()
    server.start()
    client = server.client()
    assert not any(p.exists() for p in folders)  # the outputs are gone; the gallery keeps its own copies

    found = _gallery(client, favourites=True)
    assert sorted(r["id"] for r in found) == sorted(favourites)
    assert {r["id"]: r["rating"] for r in found} == favourites and all(r["favourite"] for r in found)
    assert sorted(r["id"] for r in _gallery(client, min_rating=3)) == sorted([ids[0], ids[1]])
    home = server.home.resolve()
    for record in found:
        record, paths = client.predict(item=record["id"], api_name="/gallery_item")
        assert record["files"] and all(Path(f).resolve().is_relative_to(home / "gallery") for f in record["files"])
        assert Image.open(paths[0]).size == (32, 32)  # downloadable after the restart
    assert len(_gallery(client)) == 6
