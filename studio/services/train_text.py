"""Start text training jobs: a GPT-2 from scratch on the user's writing (`start_text_training`).

The corpus is read, split (first 90% train, last 10% validation by default), tokenised, and written into
the job folder: `data.safetensors` holds the token ids ("train", "val", int64) and `tokenizer/` the
tokenizer (transformers layout). The worker (`python -m studio.train <job>`) then needs nothing else, so a
job resumes after the uploads are gone.

From the command line (creates the job and trains it in the foreground):

    python -m studio.services.train_text --name my-poems --files poems.txt --steps 2000
    python -m studio.services.train_text --name fortunes-char --builtin fortunes
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from safetensors.torch import save_file

from .. import jobs
from ..errors import StudioError, check_number
from ..families import get_family
from ..families.text import SIZES, text_config
from ..registry import default_registry
from ..text_data import BUILTIN_CORPORA, TextCorpus, build_tokenizer, builtin_corpus, encode, split, texts_from_files
from .train import LIMITS, check_new_model

CONTEXT_LIMITS = (8, 1024)


def read_corpus(files=None, builtin: str | None = None, folder: str | None = None) -> TextCorpus:
    """Exactly one source: uploaded files/zips, a built-in corpus name, or a server folder (STUDIO_DATA_ROOTS)."""
    from ..datasets import check_data_folder

    if sum([bool(files), bool(builtin), bool(folder)]) != 1:
        raise StudioError("give exactly one text source: uploaded .txt files or a zip, a built-in corpus, "
                          "or a folder")
    if builtin:
        return builtin_corpus(builtin)
    if folder:
        return texts_from_files([check_data_folder(folder)])
    return texts_from_files([Path(f) for f in files])


def _merge_recipe(defaults: dict, recipe: dict | None, title: str, **named) -> dict:
    full = dict(defaults)
    for key, value in (recipe or {}).items():
        if key not in full:
            raise StudioError(f"{key!r} is not a training setting of {title} models; they take: {', '.join(full)}")
        full[key] = value
    full.update({k: v for k, v in named.items() if v is not None})
    full["steps"] = check_number("steps", full["steps"], *LIMITS["steps"], whole=True)
    full["batch_size"] = check_number("batch_size", full["batch_size"], *LIMITS["batch_size"], whole=True)
    full["context"] = check_number("context", full["context"], *CONTEXT_LIMITS, whole=True)
    if not (0 < float(full["learning_rate"]) <= 1):
        raise StudioError(f"learning_rate must be above 0 and at most 1; got {full['learning_rate']}")
    return full


def tokenize_corpus(corpus: TextCorpus, tokenizer_kind: str, vocab_size: int, val_fraction: float,
                    context: int, tokenizer=None):
    """(tokenizer, train ids, val ids), refusing a corpus too short for the context with a clear message."""
    train_text, val_text = split(corpus.text, val_fraction)
    tokenizer = tokenizer or build_tokenizer(tokenizer_kind, train_text, vocab_size)
    train_ids, val_ids = encode(tokenizer, train_text), encode(tokenizer, val_text)
    need = context + 2
    if val_ids.numel() < need or train_ids.numel() < need:
        raise StudioError(f"the corpus is too short for a context of {context} tokens: it gives "
                          f"{train_ids.numel()} training and {val_ids.numel()} validation tokens, and each needs "
                          f"at least {need}. Give more text (the validation part is the last "
                          f"{val_fraction:.0%}) or a shorter context")
    return tokenizer, train_ids, val_ids


def start_text_training(name: str, *, files: list[str | Path] | None = None, builtin: str | None = None,
                        folder: str | None = None, size: str | None = None, tokenizer: str | None = None,
                        vocab_size: int | None = None, steps: int | None = None, batch_size: int | None = None,
                        context: int | None = None, learning_rate: float | None = None, seed: int = 0,
                        recipe: dict | None = None, command: str = "", start: bool = True,
                        models_dir: str | Path | None = None) -> dict:
    """Prepare the corpus into a new job folder and start its worker (`models_dir`: where the finished
    model is saved, by default the user's models; `checkpoints` for a shipped model). Returns {"job", "report", "status",
    "tokens"}. Raises StudioError for anything the user should fix."""
    fam = get_family("text")
    check_new_model(name, models_dir)
    full = _merge_recipe(fam.default_recipe(), recipe, fam.title, size=size, tokenizer=tokenizer,
                         vocab_size=vocab_size, steps=steps, batch_size=batch_size, context=context,
                         learning_rate=learning_rate, seed=int(seed))
    if full["size"] not in SIZES:
        raise StudioError(f"size must be one of {', '.join(SIZES)}; got {full['size']!r}")
    corpus = read_corpus(files, builtin, folder)
    tok, train_ids, val_ids = tokenize_corpus(corpus, full["tokenizer"], int(full["vocab_size"]),
                                              float(full["val_fraction"]), int(full["context"]))
    config = text_config(full["size"], len(tok), int(full["context"]), float(full["dropout"]))
    text = corpus.text
    dataset = {"name": builtin or (Path(folder).name if folder else "uploaded text"), "source": corpus.source,
               "license": corpus.license, "count": len(corpus.documents), "characters": len(text),
               "files": len(corpus.used), "skipped": len(corpus.skipped),
               "train_tokens": int(train_ids.numel()), "val_tokens": int(val_ids.numel()),
               "notes": f"first {1 - float(full['val_fraction']):.0%} of the text trains, the rest validates"}

    def write_data(path: Path) -> None:
        save_file({"train": train_ids, "val": val_ids}, str(path))
        tok.save_pretrained(str(path.parent / "tokenizer"))

    job_id = jobs.create_job("text", name, config, full, dataset, write_data,
                             extra={"shapes": {"vocab_size": len(tok), "context": int(full["context"]),
                                               "tokenizer": full["tokenizer"]},
                                    "command": command,
                                    **({"models_dir": str(Path(models_dir).resolve())} if models_dir else {})})
    status = jobs.start(job_id) if start else jobs.status(job_id)
    return {"job": job_id, "report": corpus.report(), "status": status, "tokens": int(train_ids.numel())}


def start_lora_training(name: str, base_model: str, *, files: list[str | Path] | None = None,
                        builtin: str | None = None, folder: str | None = None, steps: int | None = None,
                        batch_size: int | None = None, context: int | None = None,
                        learning_rate: float | None = None, r: int | None = None, alpha: int | None = None,
                        seed: int = 0, recipe: dict | None = None, command: str = "", start: bool = True,
                        models_dir: str | Path | None = None) -> dict:
    """Fine-tune `base_model` (a studio text model, "SmolLM2-135M-Instruct", a local folder or a Hub id) with
    a LoRA adapter on the corpus; the adapter is saved as a "lora" model pointing at its base."""
    from ..families.lora import load_base_tokenizer
    from ..families.pretrained import check_pretrained_source

    fam = get_family("lora")
    check_new_model(name, models_dir)
    if not base_model or not str(base_model).strip():
        raise StudioError("choose the base model to fine-tune")
    if not default_registry().exists(str(base_model)):
        check_pretrained_source(str(base_model))
    full = _merge_recipe(fam.default_recipe(), recipe, fam.title, steps=steps, batch_size=batch_size,
                         context=context, learning_rate=learning_rate, seed=int(seed))
    config = fam.default_config(str(base_model))
    for key, value in (("r", r), ("alpha", alpha)):
        if value is not None:
            if not 1 <= int(value) <= 256:
                raise StudioError(f"LoRA {key} must be between 1 and 256; got {value}")
            config[key] = int(value)
    corpus = read_corpus(files, builtin, folder)
    tok = load_base_tokenizer(str(base_model))
    if tok.eos_token_id is None:
        raise StudioError(f"the base model {base_model!r} has no end-of-text token")
    tok, train_ids, val_ids = tokenize_corpus(corpus, "", 0, float(full["val_fraction"]), int(full["context"]),
                                              tokenizer=tok)
    dataset = {"name": builtin or (Path(folder).name if folder else "uploaded text"), "source": corpus.source,
               "license": corpus.license, "count": len(corpus.documents), "characters": len(corpus.text),
               "files": len(corpus.used), "skipped": len(corpus.skipped),
               "train_tokens": int(train_ids.numel()), "val_tokens": int(val_ids.numel()),
               "notes": f"LoRA fine-tuning of {base_model}; first {1 - float(full['val_fraction']):.0%} trains"}

    def write_data(path: Path) -> None:
        save_file({"train": train_ids, "val": val_ids}, str(path))
        tok.save_pretrained(str(path.parent / "tokenizer"))

    job_id = jobs.create_job("lora", name, config, full, dataset, write_data,
                             extra={"shapes": {"base_model": str(base_model), "context": int(full["context"])},
                                    "command": command,
                                    **({"models_dir": str(Path(models_dir).resolve())} if models_dir else {})})
    status = jobs.start(job_id) if start else jobs.status(job_id)
    return {"job": job_id, "report": corpus.report(), "status": status, "tokens": int(train_ids.numel())}


def merge_lora(name: str, new_name: str) -> dict:
    """Fold a LoRA adapter into its base model's weights and save the result as a standalone text model."""
    from ..devices import pick_device
    from ..families.text import TextModel

    registry = default_registry()
    record = registry.get(name)
    if record.family != "lora":
        raise StudioError(f"{name!r} is not a LoRA adapter")
    check_new_model(new_name)  # before the (slow) load
    loaded = get_family("lora").load(record.path, record.meta, pick_device())  # a fresh copy: merging changes it
    merged = loaded.module.merge_and_unload()
    meta = {"config": {"merged_from": name, "base_model": record.meta["config"]["base_model"]},
            "shapes": record.meta.get("shapes", {}), "recipe": record.meta.get("recipe", {}),
            "dataset": record.meta.get("dataset", {}), "metrics": {}, "training": record.meta.get("training", {})}
    saved = registry.save(new_name, "text", TextModel(merged, loaded.extras["tokenizer"]), meta)
    return saved.summary()


def builtin_corpora() -> dict[str, str]:
    return {k: v["title"] for k, v in BUILTIN_CORPORA.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.services.train_text", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--files", nargs="*", help=".txt files or zips of them")
    parser.add_argument("--builtin", choices=list(BUILTIN_CORPORA))
    parser.add_argument("--size", choices=list(SIZES))
    parser.add_argument("--tokenizer", choices=["char", "bpe"])
    for key in ("steps", "batch_size", "context", "vocab_size", "seed"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=0 if key == "seed" else None)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--models-dir", help="save the finished model here (default: the user's models)")
    args = parser.parse_args(argv)
    command = "python -m studio.services.train_text " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    try:
        result = start_text_training(args.name, files=args.files, builtin=args.builtin, size=args.size,
                                     tokenizer=args.tokenizer, vocab_size=args.vocab_size, steps=args.steps,
                                     batch_size=args.batch_size, context=args.context,
                                     learning_rate=args.learning_rate, seed=args.seed, command=command, start=False,
                                     models_dir=args.models_dir)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result["report"])
    print(f"job {result['job']}: training in the foreground (python -m studio.train {jobs.job_dir(result['job'])})")
    from ..train import main as train_main
    return train_main([str(jobs.job_dir(result["job"]))])


if __name__ == "__main__":
    sys.exit(main())
