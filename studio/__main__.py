"""Command line for scripts and servers without the UI: `python -m studio --help`.

    python -m studio models list [--family vae] [--json]
    python -m studio models info NAME | export NAME [--out DIR] | import ZIP [--name NAME]
    python -m studio models rename NAME NEW_NAME | delete NAME
    python -m studio train --family vae --name my-vae --builtin digits --size 32 --steps 3000
    python -m studio train --family vae --name faces --images photos.zip more/*.png --color --detach
    python -m studio train --family text --name my-poems --text poems.txt [--model-size small --context 128]
    python -m studio train --family lora --name my-voice --text poems.txt --base-model SmolLM2-135M-Instruct
    python -m studio train --family diffusion --name my-look --images mine/ --base-model colour-base-diffusion \
        [--adapter lora --rank 8 | --adapter full] --steps 300
    python -m studio train --family text --name my-poems-2 --text poems.txt --start-from my-poems --steps 2000
    python -m studio train --family style --name my-style --style painting.png [--images photos/*.jpg]
    python -m studio train --family adain --name my-adain [--styles brick gravel] --minutes 30
    python -m studio generate --model my-vae --count 16 --seed 7 --out out/ [--set temperature=0.8]
    python -m studio write --prompt "The sea at night" [--model fortunes-char] [--max-new-tokens 200] [--seed 1]
    python -m studio jobs list | status JOB | cancel JOB | resume JOB | delete JOB
    python -m studio models upgrade checkpoints/*   # bring old model folders up to today's layout
    python -m studio serve [--port 7860] [--host 127.0.0.1] [--mcp]

Every listing and status command takes `--json` for scripts and agents. Exit codes: 0 done; 1 a training
run that ended without finishing (failed, cancelled); 2 a usage error (unknown option, options that do not
fit together); 3 the studio refused the request (a value out of range, an unknown model, a name taken):
the message on stderr says what to change.

`train` runs in the foreground by default and prints progress; `--detach` leaves it running in the
background (like the app does); `--prepare-only` writes the job folder and prints it, for
`accelerate launch -m studio.train <job dir>` on several GPUs or machines; `--minutes` ends a foreground
run after that long and saves the model as it is then. Every family trains through the one training
service (`studio.services.training.start_training`), as the Train tab and `/train` do.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .core.errors import StudioError

EXIT_OK, EXIT_UNFINISHED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


class UsageError(StudioError):
    """Options that do not fit together: a usage error (exit 2), like argparse's own."""


def _print_json(data) -> None:
    print(json.dumps(data, indent=1, default=str))


def _show(args, data, text: str) -> None:
    """The result as JSON with --json, else as the plain line(s) a person reads."""
    if args.json:
        _print_json(data)
    elif text:
        print(text)


def _value(text: str):
    """A --set value: JSON when it parses (numbers, true/false), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes key=value; got {item!r}")
        out[key.strip()] = _value(value.strip())
    return out


def cmd_models(args) -> int:
    from .services import models

    if args.action == "list":
        records = models.list_models(family=args.family)
        if args.json:
            print(json.dumps(records, indent=1))
        else:
            for r in records:
                print(f"{r['name']:32} {r['family']:10} {r['source']:8} {r.get('image_size', '')}")
    elif args.action == "info":
        _print_json(models.model_info(args.name))  # JSON with or without --json
    elif args.action == "export":
        path = models.export_model(args.name, Path(args.out))
        _show(args, {"zip": str(path)}, str(path))
    elif args.action == "import":
        record = models.import_model(args.zip, args.name)
        _show(args, record, record["name"])
    elif args.action == "rename":
        record = models.rename_model(args.name, args.new_name)
        _show(args, record, record["name"])
    elif args.action == "delete":
        _show(args, {"deleted": args.name}, models.delete_model(args.name))
    elif args.action == "upgrade":
        from .services.upgrade import upgrade_folder

        done = {str(folder): upgrade_folder(folder) for folder in args.folders}
        _show(args, done, "\n".join(f"{folder}: {', '.join(files)}" for folder, files in done.items()))
    return EXIT_OK


# Options that belong to some families only (the training service refuses them for the others); the data
# options are checked here, where the CLI knows which flag the user typed.
TEXT_FAMILIES, STYLE_FAMILIES = ("text", "lora"), ("style", "adain")


def _training_options(args) -> dict:
    """The CLI's flags as `start_training` options; flags that don't fit the family are refused by name."""
    family = args.family
    if family in TEXT_FAMILIES and args.images:
        raise UsageError("text models learn from text: give --text FILES (.txt or zips), --builtin or --folder")
    if family not in TEXT_FAMILIES and args.text:
        raise UsageError(f"--text only applies to --family text or lora; {family} models learn from images "
                          "(--images)")
    given = {"--model-size": args.model_size, "--tokenizer": args.tokenizer, "--vocab-size": args.vocab_size,
             "--context": args.context, "--base-model": args.base_model, "--rank": args.rank, "--alpha": args.alpha,
             "--adapter": args.adapter, "--style": args.style, "--styles": args.styles, "--content": args.content,
             "--style-weight": args.style_weight}
    flags_of = {"text": ("--model-size", "--tokenizer", "--vocab-size", "--context", "--adapter"),
                "lora": ("--base-model", "--rank", "--alpha", "--context", "--adapter"),
                "diffusion": ("--base-model", "--adapter", "--rank"),
                "diffusion-lora": ("--base-model", "--adapter", "--rank"),
                "style": ("--style", "--content", "--style-weight"),
                "adain": ("--styles", "--content", "--style-weight")}
    allowed = flags_of.get("lora" if family == "text" and args.adapter == "lora" else family, ())
    wrong = [flag for flag, value in given.items() if value not in (None, []) and flag not in allowed]
    if wrong:
        takers = [f for f, flags in flags_of.items() if wrong[0] in flags]
        why = "; a LoRA adapter keeps its base model's size and tokenizer" if family == "lora" else ""
        raise UsageError(f"{', '.join(wrong)} only {'apply' if len(wrong) > 1 else 'applies'} to --family "
                          f"{' or '.join(takers)}, not {family}{why}")
    if family in TEXT_FAMILIES:
        files = args.text
        options = {"size": args.model_size, "tokenizer": args.tokenizer, "vocab_size": args.vocab_size,
                   "context": args.context} if family == "text" and args.adapter != "lora" else \
                  {"base_model": args.base_model, "rank": args.rank, "alpha": args.alpha, "context": args.context}
        options["adapter"] = args.adapter
    elif family in STYLE_FAMILIES:
        files = args.images
        options = {"image_size": args.size or 128, "content": args.content, "style_weight": args.style_weight}
        options.update({"style": args.style} if family == "style" else {"styles": args.styles})
    else:
        files = args.images
        # A fine-tune takes its base's size and colour mode unless they are given (and then they must match).
        options = {"image_size": args.size or (None if args.base_model else 32),
                   "color": args.color if args.color or args.base_model else False, "fit": args.fit,
                   "background": args.background, "flip": args.flip, "base_model": args.base_model,
                   "adapter": args.adapter, "rank": args.rank}
    return {"files": files, **options}


def cmd_train(args, argv: list[str]) -> int:
    from .core import jobs
    from .services.training import start_training
    from .train import run

    # The command that reproduces this run, as the model card will show it (how it was run is not part of it).
    command = shlex.join(["python", "-m", "studio", *[a for a in argv if a not in ("--detach", "--prepare-only", "--json")]])
    result = start_training(args.family, args.name, builtin=args.builtin, folder=args.folder, steps=args.steps,
                            batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                            recipe=_pairs(args.set), config=_pairs(args.config), command=command,
                            start=args.detach, models_dir=args.models_dir, start_from=args.start_from,
                            **_training_options(args))
    print(result["report"], file=sys.stderr)
    folder = jobs.job_dir(result["job"])
    if args.detach or args.prepare_only:
        if args.json:
            _print_json({"job": result["job"], "folder": str(folder), "report": result["report"],
                         "status": result["status"]})
        else:
            print(result["job"] if args.detach else folder)
        return EXIT_OK
    state = _run_timed(folder, args.minutes) if args.minutes else run(folder)
    status = jobs.status(result["job"])
    print(status.get("message", state), file=sys.stderr)
    if args.json:
        _print_json(status)
    return EXIT_OK if state == "completed" else EXIT_UNFINISHED


def _run_timed(folder: Path, minutes: float) -> str:
    """Train in the foreground for at most `minutes`, then save the model as it is (its card records the
    steps reached): for time-boxed runs on shared machines."""
    import threading

    from .core import jobs
    from .train import run

    time_up = threading.Event()

    def stop_for_time():
        time_up.set()
        (folder / "cancel").touch()

    timer = threading.Timer(minutes * 60, stop_for_time)
    timer.daemon = True
    timer.start()
    state = run(folder)
    timer.cancel()
    if state == "cancelled" and time_up.is_set():  # a cancel or SIGTERM from outside stays a cancel
        # Time is up: make the steps reached the run's length, then "resume", which trains no further and
        # saves the model through the same path as a finished run.
        reached = json.loads((jobs.checkpoints(folder)[0] / "state.json").read_text(encoding="utf-8"))["step"]
        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        spec["recipe"]["steps"] = reached
        jobs.write_json_atomic(folder / "spec.json", spec)
        (folder / "cancel").unlink(missing_ok=True)
        print(f"time budget reached at step {reached}; saving", file=sys.stderr, flush=True)
        state = run(folder, resume=True)
    return state


def cmd_generate(args) -> int:
    from .services.generate import generate

    result = generate(args.model, args.count, args.seed, out_dir=Path(args.out), **_pairs(args.set))
    if args.json:
        _print_json({"files": [str(p) for p in result.files], "seeds": result.seeds, "grid": str(result.grid),
                     "zip": str(result.zip), "parameters": result.parameters})
        return EXIT_OK
    for path in result.files:
        print(path)
    print(result.grid)
    return EXIT_OK


def cmd_write(args) -> int:
    from .services.write import write

    shown = 0
    for text in write(args.prompt, model=args.model, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                      repetition_penalty=args.repetition_penalty, seed=args.seed, stop=args.stop):
        sys.stdout.write(text[shown:])  # stream the new characters as they come
        sys.stdout.flush()
        shown = len(text)
    sys.stdout.write("\n")
    return 0


def cmd_jobs(args) -> int:
    from .services import training

    if args.action == "list":
        found = training.list_jobs()
        _show(args, found, "\n".join(f"{j['job']:48} {j.get('state', '?'):10} {j.get('step', 0)}/{j.get('steps', '?')}"
                                     for j in found))
    elif args.action == "status":  # these print JSON with or without --json
        _print_json(training.job_status(args.job))
    elif args.action == "cancel":
        _print_json(training.cancel_job(args.job))
    elif args.action == "resume":
        _print_json(training.resume_job(args.job))
    elif args.action == "delete":
        print(training.delete_job(args.job))
    return EXIT_OK


def cmd_serve(args) -> int:
    from .ui.app import build_demo, launch_options

    options = launch_options()
    if args.mcp:
        options["mcp_server"] = True
    build_demo().launch(server_name=args.host, server_port=args.port, **options)
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studio", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print the result as JSON")

    m = sub.add_parser("models", help="list, inspect, export, import, rename or delete models")
    msub = m.add_subparsers(dest="action", required=True)
    ml = msub.add_parser("list", help="every model, shipped and yours", parents=[as_json])
    ml.add_argument("--family")
    msub.add_parser("info", help="a model's record, studio.json and card (JSON)", parents=[as_json]).add_argument("name")
    me = msub.add_parser("export", help="write NAME.zip", parents=[as_json])
    me.add_argument("name")
    me.add_argument("--out", default=".")
    mi = msub.add_parser("import", help="import a model zip", parents=[as_json])
    mi.add_argument("zip")
    mi.add_argument("--name")
    mr = msub.add_parser("rename", help="rename one of your models", parents=[as_json])
    mr.add_argument("name")
    mr.add_argument("new_name")
    msub.add_parser("delete", help="delete one of your models", parents=[as_json]).add_argument("name")
    mu = msub.add_parser("upgrade", parents=[as_json],
                         help="write today's Hub files (config.json, network code, card) into model folders; "
                              "weights stay as they are")
    mu.add_argument("folders", nargs="+", type=Path)

    t = sub.add_parser("train", help="train a new model (foreground by default)", parents=[as_json])
    t.add_argument("--family", default="vae")
    t.add_argument("--name", required=True)
    src = t.add_mutually_exclusive_group()
    src.add_argument("--builtin", help="a built-in data set, e.g. digits; for text, a corpus, e.g. fortunes")
    src.add_argument("--images", nargs="+", help="image files, zips or folders (style families: content photos)")
    src.add_argument("--text", nargs="+", help="text families: .txt files or zips of them")
    src.add_argument("--folder", help="a folder under STUDIO_DATA_ROOTS")
    t.add_argument("--size", type=int, help="image size in px (default 32; style families 128)")
    t.add_argument("--color", action="store_true", default=None,
                   help="colour (default: grey; fine-tunes: the base model's)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--fit", choices=["crop", "pad"], default="crop")
    t.add_argument("--background", default="white")
    t.add_argument("--flip", action="store_true")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value")
    t.add_argument("--config", action="append", metavar="KEY=VALUE", help="override an architecture value")
    t.add_argument("--models-dir", type=Path, help="save the model here instead of $STUDIO_HOME/models")
    t.add_argument("--start-from", metavar="MODEL", help="continue training MODEL (same family: image, text or "
                   "LoRA): the new model starts from its weights and keeps its architecture, tokenizer and recipe")
    tt = t.add_argument_group("text families (--family text or lora) and fine-tuning (--base-model)")
    tt.add_argument("--model-size", choices=["tiny", "small", "medium", "large"], help="GPT-2 size (text)")
    tt.add_argument("--tokenizer", choices=["char", "bpe"], help="text: characters or a BPE trained on the corpus")
    tt.add_argument("--vocab-size", type=int, help="text with --tokenizer bpe: the vocabulary size")
    tt.add_argument("--context", type=int, help="tokens the model reads at once")
    tt.add_argument("--base-model", help="lora: a text model's name, SmolLM2-135M-Instruct, a folder or a Hub id; "
                    "diffusion: the diffusion model to fine-tune")
    tt.add_argument("--adapter", choices=["lora", "full"], help="fine-tuning --base-model: a LoRA adapter (the "
                    "default) or every weight (diffusion only)")
    tt.add_argument("--rank", type=int, help="lora and diffusion fine-tunes: the adapter's rank r")
    tt.add_argument("--alpha", type=int, help="lora: the adapter's scaling alpha")
    ts = t.add_argument_group("style families (--family style or adain)")
    ts.add_argument("--style", help="style: the style image, a file or an installed image's name")
    ts.add_argument("--styles", nargs="+", help="adain: installed style images (default: all installed)")
    ts.add_argument("--content", nargs="+", help="installed content photos (default: all; or --images files)")
    ts.add_argument("--style-weight", type=float, help="weight of the style loss")
    t.add_argument("--minutes", type=float, help="foreground runs: stop after this many minutes and save the "
                   "model as it is then (its card records the steps reached)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true", help="run in the background and print the job id")
    mode.add_argument("--prepare-only", action="store_true", help="only write the job folder and print it")

    g = sub.add_parser("generate", help="generate images from a model", parents=[as_json])
    g.add_argument("--model", required=True)
    g.add_argument("--count", type=int, default=4)
    g.add_argument("--seed", type=int, default=-1)
    g.add_argument("--out", default=".")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="a sampling setting, e.g. temperature=0.8")

    w = sub.add_parser("write", help="write text with a text model, streamed")
    w.add_argument("--prompt", required=True)
    w.add_argument("--model", help="a text model (default: the shipped one)")
    w.add_argument("--max-new-tokens", type=int, default=200)
    w.add_argument("--temperature", type=float)
    w.add_argument("--top-k", type=int)
    w.add_argument("--top-p", type=float, help="sample among the likeliest tokens holding this much probability")
    w.add_argument("--repetition-penalty", type=float, help="above 1 discourages repeating tokens")
    w.add_argument("--seed", type=int, default=-1)
    w.add_argument("--stop", help="stop strings separated by |, \\n for a newline: the text ends before the first one")

    j = sub.add_parser("jobs", help="training jobs")
    jsub = j.add_subparsers(dest="action", required=True)
    jsub.add_parser("list", parents=[as_json])
    for action in ("status", "cancel", "resume"):
        jsub.add_parser(action, parents=[as_json], help="prints JSON").add_argument("job")
    jsub.add_parser("delete", help="remove a finished, failed or cancelled job's folder (its model stays)"
                    ).add_argument("job")

    s = sub.add_parser("serve", help="run the web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--mcp", action="store_true", help="also serve the public endpoints as MCP tools at "
                   "/gradio_api/mcp/ (the same as STUDIO_MCP=1)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    args = cli.parse_args(argv)  # usage errors exit with 2 here (argparse)
    try:
        if args.command == "models":
            return cmd_models(args)
        if args.command == "train":
            return cmd_train(args, argv)
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "write":
            return cmd_write(args)
        if args.command == "jobs":
            return cmd_jobs(args)
        return cmd_serve(args)
    except UsageError as exc:
        cli.print_usage(sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
