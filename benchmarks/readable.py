"""How readable a text model's writing is: the share of the words it writes that are real words, for several
versions of a model side by side, with their validation losses.

    python benchmarks/readable.py                                   # the shipped fortunes-char and its earlier
                                                                     # shipped versions, from git history
    python benchmarks/readable.py --folders path/to/model ... [--commits 85cfe93 741625a] [--texts 24]

Each model writes `--texts` continuations (12 fixed prompts, seeds 0, 1, ...) of 300 characters through the
studio's own writer (`studio.services.write.write_text`, the Write tab's default settings for the model). The
words it writes (runs of letters, an apostrophe allowed inside, the prompt left out) are looked up in the
fortunes corpus: a word counts as real when it occurs at least 3 times there, so typos in the corpus do not
count. Reported: the share of real words among all words and among words of 5 letters or more (short words
are easy to hit by chance), and the validation loss from the model's studio.json. The table goes to stdout and
benchmarks/results/readable.md (+ .json); a few lines of each model's writing go to the .md as well.

Earlier versions come from git (`--commits`: the files of checkpoints/<--model> at each commit), so the
comparison reruns on any clone. Needs the fortunes corpus (Debian fortunes, fortunes-min).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PROMPTS = ["The sea", "Q: What", "Love is", "A man", "It is", "When I", "Never", "The computer",
           "In the beginning", "My", "Life", "Why"]
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# Earlier shipped versions of fortunes-char: the first (context 64, validation loss 2.06), the recipe that
# reached nanoGPT's loss in half the time (context 64, 2.00), and the 256-character retrain (1.744).
DEFAULT_COMMITS = ["85cfe93", "8cb13db", "741625a"]


def corpus_words() -> collections.Counter:
    from studio.data.text import builtin_corpus

    return collections.Counter(w.lower() for w in WORD.findall(builtin_corpus("fortunes").text))


def words_of(texts: list[str]) -> list[str]:
    return [w.lower() for text in texts for w in WORD.findall(text)]


def real_share(words: list[str], known: collections.Counter, min_letters: int = 1) -> tuple[float, int]:
    """(the share of `words` of at least `min_letters` letters that occur 3 times or more in the corpus, their
    number)."""
    chosen = [w for w in words if len(w.replace("'", "")) >= min_letters]
    return (sum(known[w] >= 3 for w in chosen) / len(chosen) if chosen else 0.0), len(chosen)


def folder_from_git(commit: str, model: str, target: Path) -> Path:
    """The files of checkpoints/<model> at `commit`, written into `target`."""
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, f"checkpoints/{model}/"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    if not listing:
        raise SystemExit(f"checkpoints/{model} does not exist at {commit}")
    target.mkdir(parents=True)
    for path in listing:
        data = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, check=True).stdout
        (target / Path(path).name).write_bytes(data)
    return target


def validation_loss(folder: Path) -> float | None:
    meta = json.loads((folder / "studio.json").read_text(encoding="utf-8"))
    loss = (meta.get("metrics") or {}).get("validation_loss")
    return None if loss is None else float(loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fortunes-char", help="the shipped model (checkpoints/<model>)")
    parser.add_argument("--commits", nargs="*", default=DEFAULT_COMMITS, help="earlier versions, from git")
    parser.add_argument("--folders", nargs="*", default=[], help="more model folders to compare")
    parser.add_argument("--texts", type=int, default=24)
    parser.add_argument("--chars", type=int, default=300)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="readable-"))
    os.environ.update({"STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"})
    models = home / "models"
    versions: list[tuple[str, Path]] = []
    for commit in args.commits:
        versions.append((f"{args.model} at {commit}", folder_from_git(commit, args.model,
                                                                      models / f"{args.model}-{commit}")))
    for folder in map(Path, args.folders):
        versions.append((str(folder), shutil.copytree(folder, models / folder.resolve().name)))
    versions.append((f"{args.model} (checkpoints/, now)", REPO / "checkpoints" / args.model))

    import torch

    from studio.services.write import write_text

    torch.set_num_threads(1)
    known = corpus_words()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.texts)]  # seed i // 12 for the i-th
    rows, samples = [], {}
    for label, folder in versions:
        name = folder.name
        started = time.time()
        texts = [write_text(prompt, model=name, max_new_tokens=args.chars, seed=i // len(PROMPTS))
                 for i, prompt in enumerate(prompts)]
        new = [text[len(prompt):] for text, prompt in zip(texts, prompts)]  # what the model wrote
        words = words_of(new)
        share, count = real_share(words, known)
        long_share, long_count = real_share(words, known, 5)
        rows.append({"model": label, "validation_loss": validation_loss(folder), "words": count,
                     "real_words": round(share, 4), "long_words": long_count, "real_long_words": round(long_share, 4),
                     "seconds": round(time.time() - started, 1)})
        samples[label] = texts[:3]
        print(json.dumps(rows[-1]), flush=True)
    shutil.rmtree(home, ignore_errors=True)

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread, torch {torch.__version__}"
    lines = ["# How readable the text model's writing is", "",
             f"Machine: {machine}. Command: `python benchmarks/readable.py` (all versions in one run). "
             f"{args.texts} texts of {args.chars} characters per model (12 prompts, seeds 0-{args.texts // 12 - 1 if args.texts >= 12 else 0}, "
             "the Write tab's default settings); a word is real when it occurs 3 times or more in the fortunes "
             "corpus.", "",
             "| model | validation loss | words written | real words | words of 5+ letters | real among them |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        loss = "" if r["validation_loss"] is None else f"{r['validation_loss']:.3f}"
        lines.append(f"| {r['model']} | {loss} | {r['words']} | {100 * r['real_words']:.1f}% | {r['long_words']} | "
                     f"{100 * r['real_long_words']:.1f}% |")
    lines += ["", "## What each wrote (the first three texts)", ""]
    for label, texts in samples.items():
        lines += [f"### {label}", "", "```", *("\n".join(t.splitlines()) + "\n---" for t in texts), "```", ""]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "readable.md").write_text(table + "\n", encoding="utf-8")
    (RESULTS / "readable.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n",
                                           encoding="utf-8")


if __name__ == "__main__":
    main()
