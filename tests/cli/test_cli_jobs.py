"""`python -m studio jobs delete`: a finished job's folder goes, its model stays."""
from __future__ import annotations

import json

from tests.cli.test_cli_and_training import studio_cli


def test_jobs_delete_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    trained = studio_cli("train", "--family", "vae", "--name", "cli-del", "--builtin", "digits", "--size", "16",
                         "--steps", "4", "--batch-size", "16", home=home)
    assert trained.returncode == 0, trained.stderr
    job = studio_cli("jobs", "list", home=home).stdout.split()[0]
    assert json.loads(studio_cli("jobs", "status", job, home=home).stdout)["state"] == "completed"
    out = studio_cli("jobs", "delete", job, home=home)
    assert out.returncode == 0 and f"deleted job {job}" in out.stdout
    assert studio_cli("jobs", "list", home=home).stdout.strip() == ""
    assert not (home / "jobs" / job).exists() and (home / "models" / "cli-del").is_dir()
    again = studio_cli("jobs", "delete", job, home=home)
    assert again.returncode == 3 and "no training job" in again.stderr  # 3: the studio refused
