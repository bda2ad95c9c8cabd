"""The model store and the models service on real folders and zips: names, atomic saves, loading through
the family, import refusals, export round trips."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.registry import Registry, check_name, default_registry
from studio.services import models
from tests.support.files import save_tiny_vae, write_zip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(isolated_home, monkeypatch) -> Registry:
    monkeypatch.setenv("STUDIO_MODEL_CACHE", "2")
    return default_registry()


@pytest.mark.parametrize("name", ["digits-vae", "A1", "my_model.v2", "x" * 64])
def test_good_names_pass_unchanged(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "  ", "../evil", "a/b", "a\\b", "..", "a..b", ".hidden", "-dash", "sp ace",
                                  " lead", "naïve", "x" * 65, "con:name", "a\x00b"])
def test_hostile_names_are_refused_not_rewritten(name):
    with pytest.raises(StudioError):
        check_name(name)


def test_save_lists_loads_and_writes_a_hub_shaped_folder(registry):
    record = save_tiny_vae(registry, "tiny")
    files = {p.name for p in record.path.iterdir()}
    assert {"studio.json", "model.safetensors", "config.json", "conv_vae.py", "README.md"} <= files
    card = (record.path / "README.md").read_text()
    assert card.startswith("---\n") and "pytorch_model_hub_mixin" in card and "pipeline_tag:" in card
    meta = json.loads((record.path / "studio.json").read_text())
    assert meta["family"] == "vae" and meta["format_version"] == 1 and meta["name"] == "tiny"
    assert [r.name for r in registry.list(family="vae")] == ["tiny"]
    assert registry.list(family="gan") == []
    loaded = models.load_model("tiny", torch.device("cpu"))
    assert loaded.weights_hash and loaded.module.image_size == 16


def test_load_cache_is_bounded_and_evicts_oldest(registry):
    for n in ("a", "b", "c"):
        save_tiny_vae(registry, n)
    first = models.load_model("a", torch.device("cpu"))
    assert models.load_model("a", torch.device("cpu")) is first
    models.load_model("b", torch.device("cpu"))
    models.load_model("c", torch.device("cpu"))
    assert len(models._cache) == 2
    assert models.load_model("a", torch.device("cpu")) is not first  # evicted, loaded again


def test_duplicate_names_and_shipped_models_are_protected(registry, tmp_path):
    save_tiny_vae(registry, "taken")
    with pytest.raises(StudioError, match="already exists"):
        save_tiny_vae(registry, "taken")
    shipped = Registry(models_dir=registry.checkpoints_dir, checkpoints_dir=tmp_path / "none")
    save_tiny_vae(shipped, "factory")
    assert registry.get("factory").shipped
    with pytest.raises(StudioError, match="read-only"):
        registry.delete("factory")
    with pytest.raises(StudioError, match="read-only"):
        registry.rename("factory", "mine")
    with pytest.raises(StudioError, match="already exists"):
        save_tiny_vae(registry, "factory")


def test_rename_and_delete(registry):
    save_tiny_vae(registry, "old")
    models.load_model("old", torch.device("cpu"))
    models.rename_model("old", "new")
    record = registry.get("new")
    assert record.name == "new" and json.loads((record.path / "studio.json").read_text())["name"] == "new"
    assert "# new" in (record.path / "README.md").read_text()
    with pytest.raises(StudioError, match="no model named"):
        registry.get("old")
    with pytest.raises(StudioError):
        registry.rename("new", "../escape")
    registry.delete("new")
    assert registry.list() == []
    assert not any(p.name == "new" for p in registry.models_dir.iterdir())


def test_a_save_killed_midway_leaves_no_model_listed(registry, tmp_path):
    # A child process writes the weights and is killed (SIGKILL) before it can publish the folder.
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from studio.families import FAMILIES
        from studio.families.vae import VAEFamily
        from studio.core.registry import Registry
        from tests.support.files import save_tiny_vae

        class DiesWhileSaving(VAEFamily):
            def save(self, module, folder):
                super().save(module, folder)
                os.kill(os.getpid(), signal.SIGKILL)

        FAMILIES["vae"] = DiesWhileSaving()
        save_tiny_vae(Registry(models_dir={str(registry.models_dir)!r}, checkpoints_dir={str(tmp_path / 'none')!r}),
                      "half")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    leftovers = list((registry.models_dir / ".incoming").iterdir())
    assert leftovers and (leftovers[0] / "model.safetensors").exists()  # it really died mid-save
    assert registry.list() == [] and not (registry.models_dir / "half").exists()
    record = save_tiny_vae(registry, "half")  # the name is free and a clean save works
    assert models.load_model(record.name, torch.device("cpu"))


def test_export_import_round_trip_gives_identical_weights(registry, tmp_path):
    save_tiny_vae(registry, "orig")
    archive = registry.export_zip("orig", tmp_path / "out")
    with zipfile.ZipFile(archive) as zf:
        assert all(n.startswith("orig/") for n in zf.namelist())
    models.import_model(archive, "copy")
    record = registry.get("copy")
    a = (registry.get("orig").path / "model.safetensors").read_bytes()
    b = (record.path / "model.safetensors").read_bytes()
    assert a == b and record.meta["name"] == "copy"
    with pytest.raises(StudioError, match="already exists"):
        models.import_model(archive)  # its own name "orig" is taken


@pytest.fixture
def members(registry, tmp_path) -> dict[str, bytes]:
    record = save_tiny_vae(registry, "src")
    data = {f"src/{p.name}": p.read_bytes() for p in record.path.iterdir()}
    registry.delete("src")
    return data


@pytest.mark.parametrize("extra,message", [
    ({"src/evil.pt": b"\x80\x04pickle"}, "pickle"),
    ({"src/model.bin": b"\x80\x04pickle"}, "pickle"),
    ({"src/run.sh": b"#!/bin/sh\nrm -rf /"}, "file type"),
    ({"src/../../escape.json": b"{}"}, "outside"),
    ({"/etc/passwd.json": b"{}"}, "outside"),
])
def test_import_refuses_dangerous_archives(registry, tmp_path, members, extra, message):
    archive = write_zip(tmp_path / "bad.zip", {**members, **extra})
    with pytest.raises(StudioError, match=message):
        models.import_model(archive, "bad")
    assert registry.list() == []


def test_import_refuses_links(registry, tmp_path, members):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("src/link.json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(StudioError, match="link"):
        models.import_model(archive, "linked")


def test_import_refuses_archives_over_the_size_limit(registry, tmp_path, members, monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_IMPORT_MB", "1")
    bomb = write_zip(tmp_path / "bomb.zip", {**members, "src/notes.txt": b"\0" * (3 << 20)})
    assert bomb.stat().st_size < (1 << 20)  # small packed, large unpacked
    with pytest.raises(StudioError, match="limit"):
        models.import_model(bomb, "bomb")


@pytest.mark.parametrize("change,message", [
    (lambda m: m.pop("src/studio.json"), "no studio.json"),
    (lambda m: m.update({"src/studio.json": b"{not json"}), "not valid JSON"),
    (lambda m: m.update({"src/studio.json": json.dumps({"family": "alien", "format_version": 1,
                                                        "config": {}}).encode()}), "unknown model family"),
    (lambda m: m.update({"src/studio.json": json.dumps({"family": "vae", "format_version": 99,
                                                        "config": {}}).encode()}), "format version"),
    (lambda m: m.update({"src/model.safetensors": b"garbage bytes, not safetensors"}), "corrupt"),
    (lambda m: m.update({"src/studio.json": json.dumps({"family": "vae", "format_version": 1, "config": {
        "image_size": 32, "channels": 3, "latent_dim": 4, "base_width": 8}}).encode()}), "do not fit"),
])
def test_import_refuses_missing_invalid_or_foreign_models(registry, tmp_path, members, change, message):
    change(members)
    archive = write_zip(tmp_path / "broken.zip", members)
    with pytest.raises(StudioError, match=message):
        models.import_model(archive, "broken")
    assert registry.list() == []
    assert not list((registry.models_dir / ".incoming").glob("*")) or all(
        p.name.startswith("deleted-") for p in (registry.models_dir / ".incoming").iterdir())


def test_import_refuses_non_zip_and_empty_zip(registry, tmp_path):
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    with pytest.raises(StudioError, match="not a zip"):
        models.import_model(text)
    empty = write_zip(tmp_path / "empty.zip", {})
    with pytest.raises(StudioError, match="empty"):
        models.import_model(empty)


def test_broken_folders_are_not_listed(registry):
    (registry.models_dir / "junk").mkdir()
    (registry.models_dir / "junk" / "studio.json").write_text("{broken")
    (registry.models_dir / "nojson").mkdir()
    assert registry.list() == []
    os.makedirs(registry.models_dir / ".incoming" / "x", exist_ok=True)
    assert registry.list() == []


@pytest.mark.parametrize("statement,hub_id", [
    ("BSD-3-Clause (scikit-learn); UCI data", "bsd-3-clause"),
    ("CC-BY-4.0", "cc-by-4.0"),
    ("CC-BY-2.0, public domain / CC0", "other"),  # a mix never becomes its most permissive part
    ("unknown (the user's own images)", "other"),
])
def test_model_cards_state_the_data_licence_honestly(statement, hub_id):
    from studio.services.modelcard import license_id

    assert license_id(statement) == hub_id
