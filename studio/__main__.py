"""Command line for scripts and servers without the UI: `python -m studio --help`.

    python -m studio models list [--family vae] [--json]
    python -m studio models info NAME | export NAME [--out DIR] | import ZIP [--name NAME]
    python -m studio models rename NAME NEW_NAME | delete NAME
    python -m studio train --family vae --name my-vae --builtin digits --size 32 --steps 3000
    python -m studio train --family vae --name faces --images photos.zip more/*.png --color --detach
    python -m studio train --family text --name my-poems --text poems.txt [--model-size small --context 128]
    python -m studio train --family lora --name my-voice --text poems.txt --base-model SmolLM2-135M-Instruct
    python -m studio generate --model my-vae --count 16 --seed 7 --out out/ [--set temperature=0.8]
    python -m studio write --prompt "The sea at night" [--model fortunes-char] [--max-new-tokens 200] [--seed 1]
    python -m studio jobs list | status JOB | cancel JOB | resume JOB
    python -m studio serve [--port 7860] [--host 127.0.0.1]

`train` runs in the foreground by default and prints progress; `--detach` leaves it running in the
background (like the app does); `--prepare-only` writes the job folder and prints it, for
`accelerate launch -m studio.train <job dir>` on several GPUs or machines.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .errors import StudioError


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
            raise StudioError(f"--set takes key=value; got {item!r}")
        out[key.strip()] = _value(value.strip())
    return out


def cmd_models(args) -> int:
    from .registry import default_registry

    registry = default_registry()
    if args.action == "list":
        records = [r.summary() for r in registry.list(family=args.family)]
        if args.json:
            print(json.dumps(records, indent=1))
        else:
            for r in records:
                print(f"{r['name']:32} {r['family']:10} {r['source']:8} {r.get('image_size', '')}")
    elif args.action == "info":
        print(json.dumps(registry.info(args.name), indent=1))
    elif args.action == "export":
        print(registry.export_zip(args.name, Path(args.out)))
    elif args.action == "import":
        print(registry.import_zip(args.zip, args.name).name)
    elif args.action == "rename":
        print(registry.rename(args.name, args.new_name).name)
    elif args.action == "delete":
        registry.delete(args.name)
        print(f"deleted {args.name}")
    return 0


TEXT_ONLY = ("text", "model_size", "tokenizer", "context", "vocab_size", "base_model", "rank", "alpha")


def _start_text(args, command: str) -> dict:
    """A text job: a GPT-2 from scratch (family text) or a LoRA adapter on a base model (family lora)."""
    from .services.train_text import start_lora_training, start_text_training

    if args.images:
        raise StudioError("text models learn from text: give --text FILES (.txt or zips), --builtin or --folder")
    if args.config:
        raise StudioError("--config is for image families; text models take --model-size and --context")
    common = dict(files=args.text, builtin=args.builtin, folder=args.folder, steps=args.steps,
                  batch_size=args.batch_size, context=args.context, learning_rate=args.lr, seed=args.seed,
                  recipe=_pairs(args.set), command=command, start=args.detach, models_dir=args.models_dir)
    if args.family == "lora":
        if args.model_size or args.tokenizer or args.vocab_size:
            raise StudioError("--model-size, --tokenizer and --vocab-size are for --family text; a LoRA adapter "
                              "keeps its base model's size and tokenizer")
        return start_lora_training(args.name, args.base_model or "SmolLM2-135M-Instruct", r=args.rank,
                                   alpha=args.alpha, **common)
    if args.base_model or args.rank or args.alpha:
        raise StudioError("--base-model, --rank and --alpha are for --family lora")
    return start_text_training(args.name, size=args.model_size, tokenizer=args.tokenizer,
                               vocab_size=args.vocab_size, **common)


def cmd_train(args, argv: list[str]) -> int:
    from . import jobs
    from .services.train import start_image_training
    from .train import run

    # The command that reproduces this run, as the model card will show it (how it was run is not part of it).
    command = shlex.join(["python", "-m", "studio", *[a for a in argv if a not in ("--detach", "--prepare-only")]])
    if args.family in ("text", "lora"):
        result = _start_text(args, command)
    else:
        given = [f"--{k.replace('_', '-')}" for k in TEXT_ONLY if getattr(args, k)]
        if given:
            raise StudioError(f"{', '.join(given)} only apply to --family text or lora")
        result = start_image_training(
            args.family, args.name, files=args.images, builtin=args.builtin, folder=args.folder,
            image_size=args.size, color=args.color, steps=args.steps, batch_size=args.batch_size,
            learning_rate=args.lr, seed=args.seed, fit=args.fit, background=args.background, flip=args.flip,
            recipe=_pairs(args.set), config=_pairs(args.config), command=command, start=args.detach,
            models_dir=args.models_dir)
    print(result["report"], file=sys.stderr)
    folder = jobs.job_dir(result["job"])
    if args.detach:
        print(result["job"])
        return 0
    if args.prepare_only:
        print(folder)
        return 0
    state = run(folder)
    print(jobs.status(result["job"]).get("message", state), file=sys.stderr)
    return 0 if state == "completed" else 1


def cmd_generate(args) -> int:
    from .services.generate import generate

    result = generate(args.model, args.count, args.seed, out_dir=Path(args.out), **_pairs(args.set))
    for path in result.files:
        print(path)
    print(result.grid)
    return 0


def cmd_write(args) -> int:
    from .services.write import write

    shown = 0
    for text in write(args.prompt, model=args.model, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                      stop=args.stop):
        sys.stdout.write(text[shown:])  # stream the new characters as they come
        sys.stdout.flush()
        shown = len(text)
    sys.stdout.write("\n")
    return 0


def cmd_jobs(args) -> int:
    from . import jobs

    if args.action == "list":
        for j in jobs.list_jobs():
            print(f"{j['job']:48} {j.get('state', '?'):10} {j.get('step', 0)}/{j.get('steps', '?')}")
    elif args.action == "status":
        print(json.dumps(jobs.status(args.job), indent=1))
    elif args.action == "cancel":
        print(json.dumps(jobs.cancel(args.job), indent=1))
    elif args.action == "resume":
        print(json.dumps(jobs.resume(args.job), indent=1))
    return 0


def cmd_serve(args) -> int:
    from .ui.app import build_demo, launch_options

    build_demo().launch(server_name=args.host, server_port=args.port, **launch_options())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studio", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list, inspect, export, import, rename or delete models")
    msub = m.add_subparsers(dest="action", required=True)
    ml = msub.add_parser("list", help="every model, shipped and yours")
    ml.add_argument("--family")
    ml.add_argument("--json", action="store_true")
    msub.add_parser("info", help="a model's record, studio.json and card").add_argument("name")
    me = msub.add_parser("export", help="write NAME.zip")
    me.add_argument("name")
    me.add_argument("--out", default=".")
    mi = msub.add_parser("import", help="import a model zip")
    mi.add_argument("zip")
    mi.add_argument("--name")
    mr = msub.add_parser("rename", help="rename one of your models")
    mr.add_argument("name")
    mr.add_argument("new_name")
    msub.add_parser("delete", help="delete one of your models").add_argument("name")

    t = sub.add_parser("train", help="train a new model (foreground by default)")
    t.add_argument("--family", default="vae")
    t.add_argument("--name", required=True)
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--builtin", help="a built-in data set, e.g. digits; for text, a corpus, e.g. fortunes")
    src.add_argument("--images", nargs="+", help="image files, zips or folders")
    src.add_argument("--text", nargs="+", help="text families: .txt files or zips of them")
    src.add_argument("--folder", help="a folder under STUDIO_DATA_ROOTS")
    t.add_argument("--size", type=int, default=32, help="image size in px")
    t.add_argument("--color", action="store_true", help="colour (default: grey)")
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
    tt = t.add_argument_group("text families (--family text or lora)")
    tt.add_argument("--model-size", choices=["tiny", "small", "medium", "large"], help="GPT-2 size (text)")
    tt.add_argument("--tokenizer", choices=["char", "bpe"], help="text: characters or a BPE trained on the corpus")
    tt.add_argument("--vocab-size", type=int, help="text with --tokenizer bpe: the vocabulary size")
    tt.add_argument("--context", type=int, help="tokens the model reads at once")
    tt.add_argument("--base-model", help="lora: a text model's name, SmolLM2-135M-Instruct, a folder or a Hub id")
    tt.add_argument("--rank", type=int, help="lora: the adapter's rank r")
    tt.add_argument("--alpha", type=int, help="lora: the adapter's scaling alpha")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true", help="run in the background and print the job id")
    mode.add_argument("--prepare-only", action="store_true", help="only write the job folder and print it")

    g = sub.add_parser("generate", help="generate images from a model")
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
    w.add_argument("--top-p", type=float)
    w.add_argument("--seed", type=int, default=-1)
    w.add_argument("--stop", help="stop strings, comma-separated")

    j = sub.add_parser("jobs", help="training jobs")
    jsub = j.add_subparsers(dest="action", required=True)
    jsub.add_parser("list")
    for action in ("status", "cancel", "resume"):
        jsub.add_parser(action).add_argument("job")

    s = sub.add_parser("serve", help="run the web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
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
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
