"""The command line, devices, login, and the training worker alone and in several processes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.core.devices import pick_device
from studio.core.errors import StudioError

REPO = Path(__file__).resolve().parents[2]


def studio_cli(*args: str, home: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if home is not None:
        env["STUDIO_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_the_main_commands():
    out = studio_cli("--help")
    assert out.returncode == 0
    for word in ("models", "train", "generate", "write", "jobs", "serve"):
        assert word in out.stdout


def test_write_streams_text_from_the_shipped_model():
    first = studio_cli("write", "--prompt", "The sea", "--max-new-tokens", "40", "--seed", "3")
    again = studio_cli("write", "--prompt", "The sea", "--max-new-tokens", "40", "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("The sea") and len(first.stdout.strip()) > len("The sea")
    assert first.stdout == again.stdout  # same seed and settings, same text
    bad = studio_cli("write", "--prompt", "x", "--max-new-tokens", "0")
    assert bad.returncode == 3 and "max_new_tokens" in bad.stderr  # 3: the studio refused the value


def test_train_generate_and_list_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    trained = studio_cli("train", "--family", "vae", "--name", "cli-vae", "--builtin", "digits", "--size", "16",
                         "--steps", "12", "--batch-size", "16", "--set", "kl_warmup=5", "--detach", home=home)
    assert trained.returncode == 0, trained.stderr
    job = trained.stdout.strip()
    status = json.loads(studio_cli("jobs", "status", job, home=home).stdout)
    assert status["job"] == job and status["state"] in ("starting", "preparing", "running", "completed")
    assert json.loads((home / "jobs" / job / "spec.json").read_text())["recipe"]["kl_warmup"] == 5
    # run a second one in the foreground: it returns when the model is saved
    fg = studio_cli("train", "--family", "vae", "--name", "cli-vae-2", "--builtin", "digits", "--size", "16",
                    "--steps", "12", "--batch-size", "16", home=home)
    assert fg.returncode == 0, fg.stderr
    assert "step 12/12" in fg.stdout and "saved as model 'cli-vae-2'" in fg.stderr
    listed = studio_cli("models", "list", "--json", home=home)
    names = {r["name"] for r in json.loads(listed.stdout)}
    assert "cli-vae-2" in names
    meta = json.loads((home / "models" / "cli-vae-2" / "studio.json").read_text())
    assert meta["recipe"]["kl_warmup"] == 500  # the family default: no --set for this one
    assert meta["training"]["command"].startswith("python -m studio train --family vae --name cli-vae-2")
    out = studio_cli("generate", "--model", "cli-vae-2", "--count", "2", "--seed", "3", "--out", str(tmp_path / "o"),
                     home=home)
    assert out.returncode == 0 and (tmp_path / "o" / "cli-vae-2-seed3.png").is_file()
    assert (tmp_path / "o" / "cli-vae-2-seed4.png").is_file()
    bad = studio_cli("generate", "--model", "missing", home=home)
    assert bad.returncode == 3 and "no model named" in bad.stderr


def test_text_and_lora_training_from_the_command_line(tmp_path):
    from tests.support.text import write_corpus

    home = tmp_path / "home"
    files = [str(p) for p in write_corpus(tmp_path / "poems", copies=2)]
    tiny = ["--steps", "3", "--batch-size", "2", "--context", "16", "--set", "eval_every=2", "--set",
            "eval_windows=4", "--set", "warmup_steps=1"]
    out = studio_cli("train", "--family", "text", "--name", "cli-poems", "--text", *files, "--model-size", "tiny",
                     *tiny, home=home)
    assert out.returncode == 0, out.stderr
    assert "2 file(s)" in out.stderr and "saved as model 'cli-poems'" in out.stderr
    meta = json.loads((home / "models" / "cli-poems" / "studio.json").read_text())
    assert meta["family"] == "text" and meta["config"]["n_layer"] == 2 and meta["recipe"]["context"] == 16
    assert meta["training"]["command"].startswith("python -m studio train --family text --name cli-poems --text")
    more = studio_cli("train", "--family", "text", "--name", "cli-poems-2", "--text", *files, "--start-from",
                      "cli-poems", "--steps", "3", home=home)
    assert more.returncode == 0, more.stderr
    assert "starting from the weights of 'cli-poems'" in more.stdout
    continued = json.loads((home / "models" / "cli-poems-2" / "studio.json").read_text())
    assert continued["training"]["start_from"] == "cli-poems"
    assert continued["config"] == meta["config"] and continued["recipe"]["context"] == 16  # kept from cli-poems
    assert continued["recipe"]["eval_windows"] == 4  # its recipe too, where not overridden
    other = studio_cli("train", "--family", "vae", "--name", "x", "--builtin", "digits", "--start-from",
                       "cli-poems", home=home)
    assert other.returncode == 3 and "is a text model" in other.stderr
    lora = studio_cli("train", "--family", "lora", "--name", "cli-lora", "--base-model", "cli-poems", "--text",
                      *files, "--rank", "4", *tiny, home=home)
    assert lora.returncode == 0, lora.stderr
    adapter = json.loads((home / "models" / "cli-lora" / "studio.json").read_text())
    assert adapter["family"] == "lora" and adapter["config"]["base_model"] == "cli-poems"
    assert adapter["config"]["r"] == 4
    wrote = studio_cli("write", "--model", "cli-lora", "--prompt", "Tyger", "--max-new-tokens", "5", home=home)
    assert wrote.returncode == 0 and wrote.stdout.startswith("Tyger")
    for bad, message in ((["--family", "vae", "--text", *files], "only applies to --family text or lora"),
                         (["--family", "text", "--images", *files], "text models learn from text"),
                         (["--family", "lora", "--text", *files, "--model-size", "tiny"], "keeps its base model")):
        refused = studio_cli("train", "--name", "refused", *bad, home=home)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr  # 2: a usage error


def test_recipe_overrides_reach_the_job(tmp_path):
    home = tmp_path / "home"
    out = studio_cli("train", "--name", "set-vae", "--builtin", "digits", "--size", "16", "--steps", "5",
                     "--set", "beta=0.25", "--prepare-only", home=home)
    assert out.returncode == 0, out.stderr
    spec = json.loads((Path(out.stdout.strip()) / "spec.json").read_text())
    assert spec["recipe"]["beta"] == 0.25 and "--prepare-only" not in spec["command"]
    refused = studio_cli("train", "--name", "x", "--builtin", "digits", "--set", "warp=9", home=home)
    assert refused.returncode == 3 and "not a training setting" in refused.stderr


@pytest.mark.skipif(not shutil.which("torchrun", path=str(Path(sys.executable).parent)),
                    reason="torchrun is not installed beside this Python")
def test_the_worker_trains_in_two_processes(tmp_path):
    # torchrun starts the processes exactly as `accelerate launch --multi_gpu` does on GPUs; on CPU
    # Accelerate sees MULTI_CPU and synchronises gradients with gloo.
    home = tmp_path / "home"
    prepared = studio_cli("train", "--name", "ddp-vae", "--builtin", "digits", "--size", "16", "--steps", "10",
                          "--batch-size", "8", "--prepare-only", home=home)
    job = prepared.stdout.strip()
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "STUDIO_HOME": str(home), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "studio.train", job], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    meta = json.loads((home / "models" / "ddp-vae" / "studio.json").read_text())
    assert meta["training"]["processes"] == 2 and meta["training"]["steps"] == 10
    assert run.stdout.count("step 10/10") == 1  # only the main process reports


def test_device_choice_follows_studio_device(monkeypatch):
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    monkeypatch.setenv("STUDIO_DEVICE", "toaster")
    with pytest.raises(StudioError, match="not a device name"):
        pick_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("STUDIO_DEVICE", "cuda")
        with pytest.raises(StudioError, match="no CUDA GPU"):
            pick_device()
    monkeypatch.setenv("STUDIO_DEVICE", "auto")
    assert pick_device().type in ("cuda", "mps", "cpu")


def test_login_is_required_when_studio_auth_is_set(monkeypatch):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    from studio.ui.app import build_demo, launch_options
    from tests.conftest import free_port

    monkeypatch.setenv("STUDIO_AUTH", "artist:s3cret")
    demo = build_demo()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **launch_options())
    try:
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(demo.local_url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(demo.local_url, auth=("artist", "wrong"), verbose=False)
        authed = Client(demo.local_url, auth=("artist", "s3cret"), verbose=False)
        assert isinstance(authed.predict(api_name="/models"), list)
    finally:
        demo.close()
    monkeypatch.setenv("STUDIO_AUTH", "no-colon")
    with pytest.raises(ValueError, match="user:password"):
        launch_options()


def test_json_output_and_distinct_exit_codes(tmp_path):
    home = tmp_path / "home"
    prepared = studio_cli("train", "--name", "json-vae", "--builtin", "digits", "--size", "16", "--steps", "3",
                          "--prepare-only", "--json", home=home)
    assert prepared.returncode == 0, prepared.stderr
    job = json.loads(prepared.stdout)
    assert Path(job["folder"]).is_dir() and job["status"]["job"] == job["job"]
    listed = json.loads(studio_cli("jobs", "list", "--json", home=home).stdout)
    assert [j["job"] for j in listed] == [job["job"]]
    status = json.loads(studio_cli("jobs", "status", job["job"], "--json", home=home).stdout)
    assert status["job"] == job["job"]
    models = json.loads(studio_cli("models", "list", "--json", "--family", "vae", home=home).stdout)
    assert {m["family"] for m in models} == {"vae"} and "digits-vae" in {m["name"] for m in models}
    info = json.loads(studio_cli("models", "info", "digits-vae", "--json", home=home).stdout)
    assert info["meta"]["family"] == "vae"
    usage = studio_cli("models", "list", "--colour", home=home)  # an option that does not exist
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
    refused = studio_cli("models", "info", "no-such-model", home=home)
    assert refused.returncode == 3 and "no model named" in refused.stderr


def test_write_takes_the_endpoints_options():
    base = ["write", "--prompt", "The sea", "--max-new-tokens", "30", "--seed", "5", "--temperature", "0.9"]
    plain = studio_cli(*base)
    penalised = studio_cli(*base, "--repetition-penalty", "1.8", "--top-p", "0.9")
    assert plain.returncode == 0 and penalised.returncode == 0, penalised.stderr
    assert plain.stdout != penalised.stdout  # the options reach the sampler
    stopped = studio_cli(*base, "--stop", "e")
    assert stopped.returncode == 0 and "e" not in stopped.stdout[len("The sea"):]
    bad = studio_cli(*base, "--repetition-penalty", "9")
    assert bad.returncode == 3 and "repetition_penalty" in bad.stderr
