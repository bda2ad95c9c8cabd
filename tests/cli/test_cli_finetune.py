"""Fine-tuning a diffusion model from the command line: --base-model, --adapter and --rank."""
from __future__ import annotations

import json

from tests.cli.test_cli_and_training import studio_cli
from tests.services.test_diffusion_lora import TINY, colour_pngs


def test_lora_and_full_fine_tunes_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    images = colour_pngs(tmp_path / "discs", 8)
    base = studio_cli("train", "--family", "diffusion", "--name", "cli-base", "--images", *map(str, images),
                      "--size", "16", "--color", "--steps", "2", "--batch-size", "4", "--set", "preview_steps=2",
                      *[a for k, v in TINY.items() for a in ("--config", f"{k}={json.dumps(v)}")], home=home)
    assert base.returncode == 0, base.stderr
    # Size and colour come from the base when they are not given.
    tune = ["--images", str(tmp_path / "discs"), "--base-model", "cli-base", "--steps", "2", "--batch-size", "4",
            "--set", "preview_steps=2"]
    lora = studio_cli("train", "--family", "diffusion", "--name", "cli-lora", *tune, "--rank", "2", home=home)
    assert lora.returncode == 0, lora.stderr
    meta = json.loads((home / "models" / "cli-lora" / "studio.json").read_text())
    assert meta["family"] == "diffusion-lora" and meta["config"]["r"] == 2 and meta["shapes"]["image_size"] == 16
    assert meta["training"]["command"].startswith("python -m studio train --family diffusion --name cli-lora")
    full = studio_cli("train", "--family", "diffusion", "--name", "cli-full", *tune, "--adapter", "full", home=home)
    assert full.returncode == 0, full.stderr
    meta = json.loads((home / "models" / "cli-full" / "studio.json").read_text())
    assert meta["family"] == "diffusion" and meta["config"]["fine_tuned_from"] == "cli-base"
    made = studio_cli("generate", "--model", "cli-lora", "--count", "1", "--seed", "1", "--set", "steps=10",
                      "--out", str(tmp_path / "out"), home=home)
    assert made.returncode == 0, made.stderr
    # 2: options that do not fit together; 3: the studio refused the request.
    for bad, code, message in ((["--family", "vae", "--base-model", "cli-base"], 2, "only applies to --family"),
                               (["--family", "diffusion", "--adapter", "lora"], 3, "give base_model"),
                               (["--family", "diffusion", "--base-model", "cli-base", "--size", "32"], 3,
                                "image_size must match the base model"),
                               (["--family", "diffusion", "--base-model", "cli-base", "--rank", "0"], 3,
                                "rank must be between 1 and 8"),
                               (["--family", "diffusion", "--base-model", "cli-lora"], 3, "is itself a LoRA adapter")):
        refused = studio_cli("train", "--name", "refused", "--images", str(tmp_path / "discs"), *bad, home=home)
        assert refused.returncode == code and message in refused.stderr, refused.stderr
