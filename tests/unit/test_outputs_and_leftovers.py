"""Request outputs are swept by age and size; leftovers of dead processes are told from live work."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from studio.core import leftovers, outputs
from studio.core.environment import environment


@pytest.fixture
def out_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("STUDIO_OUTPUT_MINUTES", "60")
    monkeypatch.setenv("STUDIO_OUTPUT_MB", "1")
    return tmp_path / "outputs"


def aged(folder, seconds: float, size: int = 1000):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "file.bin").write_bytes(b"\0" * size)
    os.utime(folder, (time.time() - seconds, time.time() - seconds))
    return folder


def test_outputs_go_to_a_fresh_folder_under_the_root(out_root):
    a, b = outputs.new_output_dir("generate"), outputs.new_output_dir("generate")
    assert a != b and a.parent == b.parent == environment().outputs_dir == out_root.resolve()
    assert a.name.startswith("generate-") and not list(a.iterdir())


def test_the_default_root_lies_in_gradios_upload_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDIO_OUTPUTS", raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    assert environment().outputs_dir == (tmp_path / "gradio" / "studio-outputs").resolve()


def test_sweep_removes_old_folders_then_the_oldest_past_the_size_cap(out_root):
    old = aged(out_root / "generate-old", 2 * 3600)
    big_a = aged(out_root / "generate-a", 600, 700_000)
    big_b = aged(out_root / "generate-b", 300, 700_000)
    fresh = aged(out_root / "generate-fresh", 5, 200_000)  # younger than a minute: never removed yet
    report = outputs.sweep_outputs()
    assert not old.exists() and not big_a.exists()  # too old; then the oldest until under 1 MB
    assert big_b.exists() and fresh.exists() and report["removed"] == 2
    assert outputs.sweep_outputs(max_bytes=0)["kept"] == 1 and fresh.exists() and not big_b.exists()


def test_a_dead_writers_folders_are_leftovers_and_a_live_ones_are_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = leftovers.writer_prefix()
    names = {"dead": f"{dead.pid}-0badc0de-x", "live-other": f"{os.getppid()}-0badc0de-x",
             "mine": f"{mine}-x", "my-pid-earlier-run": f"{os.getpid()}-0badc0de-x", "legacy": "a" * 32}
    for name in names.values():
        (tmp_path / name).mkdir()
    removed = set(leftovers.sweep(tmp_path))
    assert removed == {names["dead"], names["my-pid-earlier-run"]}
    os.utime(tmp_path / names["legacy"], (0, 0))
    assert leftovers.sweep(tmp_path) == [names["legacy"]]  # unnamed: removed once stale
