"""Real ABC material for tests: tunes from the music21 wheel's collections, written as an artist's uploads,
and a tiny ABC model saved for real."""
from __future__ import annotations

from pathlib import Path

# "The Kesh" (traditional Irish jig), as a tune book writes it: comments, a chord symbol, decorations, a
# second tune after a blank line.
KESH = """% my tune book
X:1
T:The Kesh
R:jig
M:6/8
L:1/8
K:G
|:"G"GAG GAB|ABA ABd|~e3 dBA|1 BAG AGE:|2 BAG A2B||
w: some words
|:d2B dBG|d2B d2g|e3 dBA|BAG A3:|

X:2
T:Lannigan's Ball
M:6/8
K:Edor
|:E2B B2A|B2d BAG|F2A A2B|AFD DFA:|
"""


def folk_tunes(count: int = 40) -> list[str]:
    """The first `count` normalised tunes of Ryan's Mammoth Collection (public domain, from music21)."""
    from studio.data.abc import collection_tunes

    tunes, _ = collection_tunes("ryansMammoth")
    return [t.text() for t in tunes[:count]]


def write_tune_files(folder: Path, count: int = 40, per_file: int = 10) -> list[Path]:
    """Real tunes as a few .abc files, several tunes each, as an artist's tune book would be."""
    folder.mkdir(parents=True, exist_ok=True)
    tunes = folk_tunes(count)
    paths = []
    for i in range(0, len(tunes), per_file):
        path = folder / f"book-{i // per_file}.abc"
        path.write_text("\n\n".join(tunes[i:i + per_file]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def save_tiny_abc_model(name: str, context: int = 64):
    """A tiny GPT-2 (random weights) with a char tokenizer over real tunes, recorded as an ABC model."""
    from studio.services.models import save_model
    from tests.support.text import tiny_text_model

    bundle, config = tiny_text_model("\n\n".join(folk_tunes(40)), context)
    return save_model(name, "text", bundle, {"config": config, "shapes": {"context": context}, "recipe": {},
                                             "dataset": {"name": "test tunes", "format": "abc"}})
