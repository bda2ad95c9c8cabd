"""ABC benchmarks: what the shipped ABC model composes, and its validation loss against baselines.

    python benchmarks/abc.py                      # everything (about 20 minutes on 2 shared cores)
    python benchmarks/abc.py --tunes 20 --minutes 0 # no training race
    python benchmarks/abc.py --compositions-only    # only the composition measures, with and without
                                                    # the grammar keeping time, side by side

Composition (`--tunes` tunes from `services.compose.compose`, seeds 0.., over four key/metre settings):
- parses: share of first draws that pass the line checks and music21; share of delivered tunes (after
  redraws) that do (always 1: a tune that fails is never delivered);
- bars: share of bars whose length fills the metre (pick-ups and their closing bars count as filled);
- key: share whose key, as music21's Krumhansl analysis hears it, has the tonic the header declares (modes
  compared by tonic: Ador's tonic is A);
- range: share whose lowest and highest notes lie within the 1st-99th percentiles of the training tunes';
- copying: the longest run of melody characters (spaces and bar lines removed) found verbatim in the
  training collections, and the share of tunes holding a run of 40 or more (about two bars of a reel);
- speed: seconds per tune (writing, checking, MIDI, score, recording) and characters written per second.

Validation loss (nats per character, on the held-out tunes of `folk-abc`, chosen by title):
- order-k Markov models over characters (k = 1..8, interpolated absolute-discounting back-off), trained on
  the same training text;
- the shipped model, on windows of 64 and of 256 characters;
- with `--minutes M`, a side-by-side race of M minutes each from scratch: nanoGPT's CPU configuration
  (context 64, batch 12, lr 1e-3) and the studio's shipped recipe, both character level, and the shipped
  recipe with a byte-level BPE tokenizer (scored per character, to choose the tokenizer).
Score engraving: verovio's time per tune (the chosen renderer; see `studio/music/score.py`).
Results print as a table and are saved under benchmarks/results/abc-<date>.md and .json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.data.abc import key_fifths, parse_tune  # noqa: E402
from studio.data.text import build_tokenizer, builtin_corpus, encode  # noqa: E402
from studio.families.text import evaluate, validation_windows  # noqa: E402
from studio.music import notation, score  # noqa: E402
from studio.services import compose as composing  # noqa: E402
from studio.services.write import load_text_model  # noqa: E402

SETTINGS = [{"key": "D", "metre": "6/8"}, {"key": "G", "metre": "4/4"}, {"key": "Ador", "metre": "4/4"},
            {"key": "Em", "metre": "3/4"}]
COPY_RUN = 40
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


# -- composition measures ---------------------------------------------------------------------------------
def melody_of(abc_text: str) -> str:
    body = "\n".join(parse_tune(abc_text).body)
    return re.sub(r"[\s|:\[\]]", "", body)


def longest_copy(melody: str, grams: set[int], lengths: list[int]) -> int:
    """The longest run of `melody` (among `lengths`) whose hash is in the training n-gram set."""
    best = 0
    for n in lengths:
        if any(hash(melody[i:i + n]) in grams[n] for i in range(len(melody) - n + 1)):
            best = n
        else:
            break
    return best


class training_grams(dict):
    """Hashes of every run of n characters in the training melodies, built for a length n when first asked
    (a copy check stops at the first length with no copy, so the long ones are seldom needed)."""

    def __init__(self, melodies: list[str], lengths: list[int]):
        super().__init__()
        self.melodies = melodies

    def __missing__(self, n: int) -> set[int]:
        grams = self[n] = {hash(m[i:i + n]) for m in self.melodies for i in range(len(m) - n + 1)}
        return grams


def declared_tonic(key: str) -> int:
    _, tonic, _ = key_fifths(key)
    return (PITCH_CLASS[tonic[0]] + {"#": 1, "b": -1}.get(tonic[1:], 0)) % 12


def compose_measures(model: str, tunes: int, train_melodies: list[str], ranges: tuple) -> dict:
    lengths = list(range(8, 201, 4))
    grams = training_grams(train_melodies, lengths)
    first_ok = delivered = 0
    bars = full = key_ok = range_ok = all_filled = reached = 0
    copies, seconds, chars, rows = [], [], [], []
    (low_lo, low_hi), (high_lo, high_hi) = ranges
    for i in range(tunes):
        setting = SETTINGS[i % len(SETTINGS)]
        t0 = time.perf_counter()
        try:
            result = composing.compose(model, bars=16, seed=i, instrument="piano", player="synth", **setting)
        except Exception as exc:  # a refusal counts as a tune not delivered
            rows.append({"seed": i, **setting, "error": str(exc)[:120]})
            continue
        seconds.append(time.perf_counter() - t0)
        delivered += 1
        first_ok += result.parameters["draw"] == 1 or not any("did not parse" in n for n in result.notes)
        tune = notation.check_tune(result.abc)
        bars += tune.bars
        full += tune.full_bars
        all_filled += tune.full_bars == tune.bars
        reached += tune.full_length_bars >= 16  # the bars asked for (a pick-up comes on top)
        analysed = tune.score.analyze("key")
        key_ok += analysed.tonic.pitchClass == declared_tonic(setting["key"])
        range_ok += low_lo <= tune.lowest <= low_hi and high_lo <= tune.highest <= high_hi
        melody = melody_of(result.abc)
        copied = longest_copy(melody, grams, lengths)
        copies.append(copied)
        chars.append(len(melody) / max(1e-9, result.parameters["seconds_writing"]))
        rows.append({"seed": i, **setting, "draw": result.parameters["draw"], "bars": tune.bars,
                     "filled": tune.full_bars, "analysed_key": str(analysed), "range": [tune.lowest, tune.highest],
                     "longest_copy": copied, "seconds": round(seconds[-1], 2)})
        print(f"  tune {i}: {setting} draw {result.parameters['draw']} bars {tune.full_bars}/{tune.bars} "
              f"key {analysed} copy {copied} {seconds[-1]:.1f} s", flush=True)
    n = max(1, delivered)
    return {"tunes": tunes, "delivered": delivered, "first_draw_parses": round(first_ok / n, 3),
            "bars_filled": round(full / max(1, bars), 3), "tunes_all_filled": round(all_filled / n, 3),
            "tunes_reaching_16_bars": round(reached / n, 3), "key_consistent": round(key_ok / n, 3),
            "range_consistent": round(range_ok / n, 3), "longest_copy_max": max(copies or [0]),
            "longest_copy_median": float(np.median(copies or [0])),
            "share_copying_40": round(sum(c >= COPY_RUN for c in copies) / n, 3),
            "seconds_per_tune": round(float(np.median(seconds or [0])), 2),
            "melody_chars_per_s": round(float(np.median(chars or [0])), 1), "rows": rows}


def training_ranges(documents: list[str], sample: int = 400) -> tuple:
    """1st-99th percentiles of the lowest and highest MIDI notes of (a sample of) the training tunes."""
    lows, highs = [], []
    for text in documents[::max(1, len(documents) // sample)]:
        try:
            tune = notation.check_tune(text)
        except Exception:  # a few old transcriptions do not pass the studio's checks
            continue
        lows.append(tune.lowest)
        highs.append(tune.highest)
    return ((np.percentile(lows, 1), np.percentile(lows, 99)), (np.percentile(highs, 1), np.percentile(highs, 99)))


# -- validation loss --------------------------------------------------------------------------------------
def markov_losses(train: str, val: str, orders=range(1, 9), discount: float = 0.75) -> dict[int, float]:
    """Nats per character of interpolated absolute-discounting Markov models of each order on `val`."""
    vocab = sorted(set(train) | set(val))
    results = {}
    counts = [defaultdict(Counter) for _ in range(max(orders) + 1)]
    for k in range(max(orders) + 1):
        for i in range(k, len(train)):
            counts[k][train[i - k:i]][train[i]] += 1

    def prob(history: str, char: str, k: int) -> float:
        if k < 0:
            return 1 / len(vocab)
        table = counts[k].get(history[len(history) - k:] if k else "")
        lower = prob(history, char, k - 1)
        if not table:
            return lower
        total = sum(table.values())
        return max(table[char] - discount, 0) / total + discount * len(table) / total * lower

    for k in orders:
        nll = 0.0
        for i in range(k, len(val)):
            nll -= math.log(prob(val[i - k:i], val[i], k))
        results[k] = round(nll / (len(val) - k), 4)
        print(f"  Markov order {k}: {results[k]:.4f}", flush=True)
    return results


def race(train_text: str, val_text: str, minutes: float) -> list[dict]:
    from text import NANOGPT, shipped_recipe, train_for

    runs = []
    for name, kind, recipe in (("nanoGPT CPU config (char)", "char", NANOGPT),
                               ("studio recipe (char)", "char", shipped_recipe()),
                               ("studio recipe (BPE 512)", "bpe", shipped_recipe())):
        tok = build_tokenizer(kind, train_text, 512)
        train_ids, val_ids = encode(tok, train_text), encode(tok, val_text)
        windows = validation_windows(val_ids, 64, 400)
        print(f"training: {name}", flush=True)
        out = train_for(name, dict(recipe), train_ids, windows, len(tok), minutes * 60, [])
        chars_per_token = len(val_text) / val_ids.numel()
        out.pop("model")
        runs.append({"name": name, "steps": out["steps"], "seconds": out["seconds"],
                     "tokens_per_s": out["tokens_per_s"], "val_per_token": out["final_val"],
                     "val_per_char": round(out["final_val"] / chars_per_token, 4),
                     "chars_per_token": round(chars_per_token, 2)})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=composing.DEFAULT_MODEL)
    parser.add_argument("--tunes", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=3.0, help="race length per recipe; 0 skips the race")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compositions-only", action="store_true",
                        help="skip the losses, the race and engraving; compose with and without the grammar "
                             "keeping time")
    args = parser.parse_args()
    if args.compositions_only:
        return compositions_only(args)
    torch.set_num_threads(args.threads)
    corpus = builtin_corpus("folk-abc")
    train_text, val_text = corpus.split()
    print(f"folk-abc: {len(corpus.documents):,} training tunes (with transpositions), {len(corpus.validation):,} "
          f"validation tunes; load average {os.getloadavg()[0]:.1f}", flush=True)

    net, tok, _, _ = load_text_model(args.model)
    val_ids = encode(tok, val_text)
    shipped = {f"context {c}": round(evaluate(net, validation_windows(val_ids, c, 400)), 4) for c in (64, 256)}
    print(f"shipped model {args.model}: {shipped}", flush=True)
    markov = markov_losses(train_text, val_text)
    runs = race(train_text, val_text, args.minutes) if args.minutes > 0 else []

    t0 = time.perf_counter()
    engrave_failures = 0
    for text in corpus.validation[:50]:
        try:
            score.render_svg(text)
        except Exception:  # verovio crashes on a few tunes (its child process dies): counted
            engrave_failures += 1
    engrave_ms = (time.perf_counter() - t0) / 50 * 1000

    print("composing", flush=True)
    originals = [d for d in corpus.documents if "\nK:" in d]
    train_melodies = [melody_of(d) for d in originals]
    measures = compose_measures(args.model, args.tunes, train_melodies, training_ranges(originals))

    machine = f"{platform.machine()}, {os.cpu_count()} cores shared, torch {torch.__version__}, " \
              f"load average {os.getloadavg()[0]:.1f}"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    best_k = min(markov, key=markov.get)
    lines = [f"# ABC model benchmark ({stamp}, {machine})", "",
             f"Model `{args.model}`; validation: {len(corpus.validation):,} held-out tunes of `folk-abc` "
             f"({len(val_text):,} characters), chosen by title.", "",
             "## Validation loss (nats per character)", "", "| model | validation loss |", "|---|---|"]
    lines += [f"| {args.model}, {k} | {v} |" for k, v in shipped.items()]
    lines += [f"| Markov order {best_k} (best of 1-8) | {markov[best_k]} |", f"| Markov order 3 | {markov[3]} |"]
    lines += [f"| {r['name']}, {r['seconds']:.0f} s from scratch ({r['steps']} steps) | {r['val_per_char']} |"
              for r in runs]
    lines += ["", "## Compositions", "", "| measure | value |", "|---|---|",
              f"| tunes delivered | {measures['delivered']} / {measures['tunes']} |",
              f"| first draw parses | {measures['first_draw_parses']:.0%} |",
              f"| bars that fill the metre | {measures['bars_filled']:.1%} |",
              f"| key consistent (music21 analysis, tonic) | {measures['key_consistent']:.0%} |",
              f"| range within training 1-99th percentiles | {measures['range_consistent']:.0%} |",
              f"| longest run copied from training (max / median, characters) | "
              f"{measures['longest_copy_max']} / {measures['longest_copy_median']:g} |",
              f"| tunes with a copied run of {COPY_RUN}+ characters | {measures['share_copying_40']:.0%} |",
              f"| seconds per 16-bar tune (all outputs, median) | {measures['seconds_per_tune']} |",
              f"| melody characters written per second | {measures['melody_chars_per_s']} |",
              f"| verovio engraving in a child process, ms per tune | {engrave_ms:.1f} |",
              f"| validation tunes verovio could not engrave (of 50) | {engrave_failures} |"]
    report = "\n".join(lines) + "\n"
    print(report)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"abc-{stamp}.md").write_text(report, encoding="utf-8")
    (out / f"abc-{stamp}.json").write_text(json.dumps(
        {"machine": machine, "model": args.model, "shipped": shipped, "markov": markov, "race": runs,
         "engrave_ms": round(engrave_ms, 1), "engrave_failures": engrave_failures, "compositions": measures}, indent=1), encoding="utf-8")


def compositions_only(args) -> None:
    """The composition measures twice, side by side on the same seeds: the grammar keeping time (bar lines
    only on full bars) and the syntax-only grammar it replaced."""
    torch.set_num_threads(args.threads)
    corpus = builtin_corpus("folk-abc")
    originals = [d for d in corpus.documents if "\nK:" in d]
    train_melodies = [melody_of(d) for d in originals]
    ranges = training_ranges(originals)
    runs = {}
    for label, keep in (("keeping time", True), ("syntax only", False)):
        print(f"composing, grammar {label}", flush=True)
        composing.KEEP_TIME = keep
        runs[label] = compose_measures(args.model, args.tunes, train_melodies, ranges)
    composing.KEEP_TIME = True
    machine = f"{platform.machine()}, {os.cpu_count()} cores shared, torch {torch.__version__}, " \
              f"load average {os.getloadavg()[0]:.1f}"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    rows = [("tunes delivered", lambda m: f"{m['delivered']} / {m['tunes']}"),
            ("first draw parses", lambda m: f"{m['first_draw_parses']:.0%}"),
            ("bars that fill the metre", lambda m: f"{m['bars_filled']:.1%}"),
            ("tunes whose every bar fills the metre", lambda m: f"{m['tunes_all_filled']:.0%}"),
            ("tunes with the 16 bars asked for (a pick-up on top)", lambda m: f"{m['tunes_reaching_16_bars']:.0%}"),
            ("key consistent (music21 analysis, tonic)", lambda m: f"{m['key_consistent']:.0%}"),
            ("range within training 1-99th percentiles", lambda m: f"{m['range_consistent']:.0%}"),
            ("longest run copied from training (max / median, characters)",
             lambda m: f"{m['longest_copy_max']} / {m['longest_copy_median']:g}"),
            (f"tunes with a copied run of {COPY_RUN}+ characters", lambda m: f"{m['share_copying_40']:.0%}"),
            ("seconds per 16-bar tune (all outputs, median)", lambda m: f"{m['seconds_per_tune']}"),
            ("melody characters written per second", lambda m: f"{m['melody_chars_per_s']}")]
    labels = list(runs)
    lines = [f"# ABC compositions, grammar keeping time vs syntax only ({stamp}, {machine})", "",
             f"Model `{args.model}`; {args.tunes} tunes of 16 bars, seeds 0-{args.tunes - 1}, over "
             f"{', '.join(s['key'] + ' ' + s['metre'] for s in SETTINGS)}; both grammars on the same seeds in "
             "one run. `python benchmarks/abc.py --compositions-only`", "",
             "| measure | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    lines += [f"| {name} | " + " | ".join(fmt(runs[label]) for label in labels) + " |" for name, fmt in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"abc-compositions-{stamp}.md").write_text(report, encoding="utf-8")
    (out / f"abc-compositions-{stamp}.json").write_text(json.dumps(
        {"machine": machine, "model": args.model, "runs": runs}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
