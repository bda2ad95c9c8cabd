"""The Write tab's `/write` and the Train tab's `/train_text` through the real app, with gradio_client."""
from __future__ import annotations

import time

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from studio.core.registry import default_registry
from tests.support.text import save_tiny_text_model, write_corpus

SHIPPED_TEXT = "fortunes-char"


@pytest.fixture(scope="module")
def tiny(app):
    if not default_registry().exists("app-tiny"):
        save_tiny_text_model("app-tiny", context=32)
    return "app-tiny"


def test_write_endpoint_parameters(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in named["/write"]["parameters"]] == [
        "model", "prompt", "max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "stop"]
    assert "/train_text" in named


def test_write_streams_and_ends_with_the_whole_text(client, tiny):
    job = client.submit(model=tiny, prompt="Tyger", max_new_tokens=300, seed=4, api_name="/write")
    updates = [u for u in job]
    final = job.result()
    assert updates and updates[-1] == final
    assert all(u.startswith("Tyger") for u in updates) and len(updates[0]) <= len(final)
    assert 5 < len(final) <= 305
    again = client.predict(model=tiny, prompt="Tyger", max_new_tokens=300, seed=4, api_name="/write")
    assert again == final  # same seed and settings, same text


def test_only_a_prompt_uses_the_shipped_model(client):
    assert default_registry().exists(SHIPPED_TEXT), "the shipped fortunes model is missing from checkpoints/"
    text = client.predict(prompt="The meaning of life", seed=0, max_new_tokens=60, api_name="/write")
    assert text.startswith("The meaning of life") and len(text) > len("The meaning of life") + 20


def test_bad_input_gets_clear_messages_and_the_app_keeps_serving(client, tiny):
    for bad in (0, 10**6):
        with pytest.raises(AppError, match="max_new_tokens must be between 1 and 2000"):
            client.predict(model=tiny, prompt="Tyger", max_new_tokens=bad, api_name="/write")
    with pytest.raises(AppError, match="write a prompt"):
        client.predict(model=tiny, prompt="", api_name="/write")
    with pytest.raises(AppError, match="could not get 'nobody/nothing' from the Hugging Face Hub"):
        client.predict(model="nobody/nothing", prompt="hi", max_new_tokens=3, api_name="/write")
    long = client.predict(model=tiny, prompt="x" * 100_000, max_new_tokens=4, seed=0, api_name="/write")
    assert len(long) <= 8000 + 4 and long.startswith("x" * 100)
    greedy = [client.predict(model=tiny, prompt="Tyger", max_new_tokens=20, temperature=0, seed=s,
                             api_name="/write") for s in (1, 2)]
    assert greedy[0] == greedy[1]  # temperature 0 is greedy: the seed does not matter
    top_p0 = client.predict(model=tiny, prompt="Tyger", max_new_tokens=20, top_p=0, seed=3, api_name="/write")
    assert top_p0 == greedy[0]
    stopped = client.predict(model=tiny, prompt="Tyger", max_new_tokens=20, temperature=0, stop=greedy[0][8:10],
                             api_name="/write")
    assert len(stopped) < len(greedy[0])


def test_stop_mid_stream_then_write_again(client, tiny):
    job = client.submit(model=tiny, prompt="Tyger", max_new_tokens=2000, seed=1, api_name="/write")
    for _ in job:
        break
    job.cancel()
    text = client.predict(model=tiny, prompt="Tyger", max_new_tokens=5, seed=1, api_name="/write")
    assert text.startswith("Tyger")


def test_train_text_from_uploads_then_write_with_it(client, tmp_path):
    files = write_corpus(tmp_path / "poems", copies=2)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(AppError, match="empty.txt is empty"):
        client.predict(name="bad-text", files=[handle_file(str(empty))], api_name="/train_text")
    with pytest.raises(AppError, match="too short for a context of 512"):
        client.predict(name="short-text", files=[handle_file(str(files[0]))], context=512, api_name="/train_text")
    job, report, status = client.predict(name="app-poems", files=[handle_file(str(p)) for p in files],
                                         size="tiny", steps=4, batch_size=4, context=16, api_name="/train_text")
    assert "2 file(s)" in report
    end = time.monotonic() + 600
    while time.monotonic() < end:
        status = client.predict(job=job, api_name="/job_status")[0]
        if status["state"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(1)
    assert status["state"] == "completed", status
    assert status["speed_unit"] == "tokens/s"
    text = client.predict(model="app-poems", prompt="Tyger", max_new_tokens=10, seed=0, api_name="/write")
    assert text.startswith("Tyger")


def test_lora_whose_base_is_missing(client, tiny):
    with pytest.raises(AppError, match="base model 'gone-base' is not available"):
        client.predict(name="orphan", files=None, builtin="fortunes-poems", method="fine-tune with LoRA",
                       base_model="gone-base", api_name="/train_text")


def test_train_takes_the_text_families_too(client, tiny):
    with pytest.raises(AppError, match="base model 'gone-base' is not available"):
        client.predict(family="lora", name="orphan-2", builtin="fortunes-poems", base_model="gone-base",
                       api_name="/train")
    with pytest.raises(AppError, match="only applies to family 'lora'"):
        client.predict(family="vae", name="vae-with-base", builtin="digits", base_model=tiny, api_name="/train")
    job, report, status = client.predict(family="text", name="app-train-text", builtin="fortunes-poems", steps=2,
                                         batch_size=2, api_name="/train")
    assert "286,579 characters" in report and status["job"] == job  # songs-poems + literature
    end = time.monotonic() + 600
    while time.monotonic() < end and status["state"] not in ("completed", "failed", "cancelled"):
        time.sleep(1)
        status = client.predict(job=job, api_name="/job_status")[0]
    assert status["state"] == "completed", status
    assert default_registry().get("app-train-text").family == "text"


def test_merge_lora_endpoint(client, tiny, tmp_path):
    from studio.core import jobs
    from studio.services.training import start_training
    from studio.train import run

    files = write_corpus(tmp_path / "poems", copies=1)
    result = start_training("lora", "app-lora", base_model=tiny, files=files, steps=2, batch_size=2, context=16,
                                 recipe={"eval_every": 1, "eval_windows": 2, "warmup_steps": 1}, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    with pytest.raises(AppError, match="not a LoRA adapter"):
        client.predict(name=tiny, new_name="tiny-merged", api_name="/merge_lora")
    with pytest.raises(AppError, match="give the merged model a name"):
        client.predict(name="app-lora", new_name=" ", api_name="/merge_lora")
    with pytest.raises(AppError, match="already"):
        client.predict(name="app-lora", new_name=tiny, api_name="/merge_lora")
    record = client.predict(name="app-lora", new_name="app-lora-merged", api_name="/merge_lora")
    assert record["family"] == "text" and record["name"] == "app-lora-merged"
    settings = dict(prompt="Tyger", max_new_tokens=12, seed=1, temperature=0, api_name="/write")
    assert client.predict(model="app-lora-merged", **settings) == client.predict(model="app-lora", **settings)
    assert default_registry().get("app-lora").family == "lora"  # the adapter is kept
