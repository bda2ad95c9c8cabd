"""Prepare folk tunes in ABC notation from the music21 wheel for character-level training, nanoGPT style.

    pip install music21==10.5.1                  # its corpus/ folder holds about 1,150 ABC files
    python data/abc/prepare.py [--corpus folk-abc|folk-abc-essen] [--transpositions 2] [--tokenizer char|bpe]

Collections (music21 10.5.1, `music21/corpus/<name>/*.abc`), with their sources and licences as music21's
corpus notes give them (`corpus/license.txt`, `corpus/essenFolksong/license.txt`):

    ryansMammoth   Ryan's Mammoth Collection (Boston, 1883), 1,059 files      public domain; ABC by Ray Davies et al.
    oneills1850    O'Neill's Music of Ireland (Chicago, 1903), 2,009 tunes    public domain; ABC by Norbert Paap
    airdsAirs      Aird's Airs (Glasgow, 1778-1803), 1,180 tunes              public domain; ABC by Jack Campin
    miscFolk       American fife tunes, Northumbrian Minstrelsy, 185 tunes    public domain; ABC by Jack Campin
    essenFolksong  Essen folk songs (EsAC), 8,514 songs                       non-commercial use only

`folk-abc` (the shipped model's data) takes the first four; `folk-abc-essen` adds Essen, whose permission is
for non-commercial use. The encodings are distributed with music21 by their encoders' permission.

Each tune is normalised (`studio.data.abc`: one tune per entry, headers X, T, M, L, K; comments, lyrics,
chord symbols and decorations dropped; tunes in several voices, free metre or without bar lines left out;
exact duplicate melodies dropped), and split by title: about one title in ten validates, so the same tune
from two collections never sits on both sides. With `--transpositions N`, each training tune is also written
in N other common keys of its mode (validation tunes stay as written). Writes into data/abc/raw/ (not
committed):
    <corpus>-train.abc, <corpus>-val.abc   the tunes, one blank line between tunes
    <corpus>-<tokenizer>/                  tokenizer.json (transformers layout) and data.safetensors
and prints the facts. The studio reads the same tunes through `studio.data.text.builtin_corpus("folk-abc")`,
so `python -m studio train --family text --builtin folk-abc` needs no preparation.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from safetensors.torch import save_file  # noqa: E402

from studio.data.abc import BUILTIN_ABC, COLLECTIONS, abc_corpus  # noqa: E402
from studio.data.text import build_tokenizer, encode  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=list(BUILTIN_ABC), default="folk-abc")
    parser.add_argument("--transpositions", type=int, default=None,
                        help="copies of each training tune in other keys (default: the corpus's, 2)")
    parser.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    parser.add_argument("--vocab-size", type=int, default=512, help="BPE only")
    args = parser.parse_args()

    spec = BUILTIN_ABC[args.corpus]
    transpositions = spec["transpositions"] if args.transpositions is None else args.transpositions
    corpus = abc_corpus(spec["collections"], transpositions=transpositions)
    train, val = "\n\n".join(corpus.train) + "\n", "\n\n".join(corpus.validation) + "\n"
    out = Path(__file__).resolve().parent / "raw"
    folder = out / f"{args.corpus}-{args.tokenizer}"
    folder.mkdir(parents=True, exist_ok=True)
    (out / f"{args.corpus}-train.abc").write_text(train, encoding="utf-8")
    (out / f"{args.corpus}-val.abc").write_text(val, encoding="utf-8")
    tokenizer = build_tokenizer(args.tokenizer, train, args.vocab_size)
    tokenizer.save_pretrained(folder)
    train_ids, val_ids = encode(tokenizer, train), encode(tokenizer, val)
    save_file({"train": train_ids, "val": val_ids}, str(folder / "data.safetensors"))
    for name in spec["collections"]:
        print(f"collection {name}: {COLLECTIONS[name]['title']}\n           licence: {COLLECTIONS[name]['license']}")
    print(f"tunes      train {len(corpus.train):,} (with {transpositions} transposition(s) each), "
          f"validation {len(corpus.validation):,}")
    print(f"left out   {len(corpus.skipped):,}: " + ", ".join(f"{why} {n}" for why, n in
                                                           Counter(w for _, w in corpus.skipped).most_common()))
    print(f"characters train {len(train):,}, validation {len(val):,}")
    print(f"vocabulary {len(tokenizer)} ({args.tokenizer})")
    print(f"tokens     train {train_ids.numel():,}, validation {val_ids.numel():,}")
    print(f"wrote      {folder}")


if __name__ == "__main__":
    main()
