"""Prepare the Debian fortunes corpus for character-level training, nanoGPT style.

    apt-get install fortunes fortunes-min          # 43 files under /usr/share/games/fortunes/
    python data/fortunes/prepare.py [--corpus fortunes|fortunes-poems] [--tokenizer char|bpe]

Each fortune file holds entries separated by lines with only "%". Entries are joined by blank lines into
one text (all 43 files: 2,561,395 characters in 15,217 entries; songs-poems + literature: 286,579); the first
90% trains and the last 10% validates. Writes into data/fortunes/raw/ (not committed):
    <corpus>.txt                 the joined text
    <corpus>-<tokenizer>/        tokenizer.json (transformers layout) and data.safetensors (train, val ids)
and prints the corpus facts. The studio reads the same files through `studio.data.text.builtin_corpus`, so
training from the app or `python -m studio train --family text --builtin fortunes` needs no preparation.

Source: fortune-mod 1.99.1 as packaged by Debian (packages `fortunes`, `fortunes-min`). Licence:
BSD-3-Clause (the 4-clause licence with its advertising clause deleted; see /usr/share/doc/fortunes/copyright).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from safetensors.torch import save_file  # noqa: E402

from studio.data.text import (  # noqa: E402
    BUILTIN_CORPORA,
    build_tokenizer,
    builtin_corpus,
    encode,
    split,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=list(BUILTIN_CORPORA), default="fortunes")
    parser.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    parser.add_argument("--vocab-size", type=int, default=2048, help="BPE only")
    args = parser.parse_args()

    corpus = builtin_corpus(args.corpus)
    text = corpus.text
    train, val = split(text, 0.1)
    tokenizer = build_tokenizer(args.tokenizer, train, args.vocab_size)
    out = Path(__file__).resolve().parent / "raw"
    folder = out / f"{args.corpus}-{args.tokenizer}"
    folder.mkdir(parents=True, exist_ok=True)
    (out / f"{args.corpus}.txt").write_text(text, encoding="utf-8")
    tokenizer.save_pretrained(folder)
    train_ids, val_ids = encode(tokenizer, train), encode(tokenizer, val)
    save_file({"train": train_ids, "val": val_ids}, str(folder / "data.safetensors"))
    print(f"corpus     {args.corpus}: {corpus.source}")
    print(f"licence    {corpus.license}")
    print(f"entries    {len(corpus.documents):,}")
    print(f"characters {len(text):,} (train {len(train):,}, validation {len(val):,})")
    print(f"vocabulary {len(tokenizer)} ({args.tokenizer})")
    print(f"tokens     train {train_ids.numel():,}, validation {val_ids.numel():,}")
    print(f"wrote      {folder}")


if __name__ == "__main__":
    main()
