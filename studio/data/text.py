"""Training text in: uploaded .txt files or zips of them, folders, built-in corpora; tokenizers; the split.

A corpus is a list of documents (one per file, or one per fortune-file entry) joined by blank lines into one
string. The first `1 - val_fraction` of the characters train the model and the rest validate it, the way
nanoGPT splits its character sets, so the validation text is never seen in training.

Tokenizers are built with Hugging Face `tokenizers` and saved as `tokenizer.json` (transformers
`save_pretrained` layout), so a trained model loads with `AutoTokenizer`:
- "char": one token per character seen in the corpus (a WordLevel vocabulary behind a split-every-character
  pre-tokenizer); characters never seen map to `<unk>`;
- "bpe": a byte-level BPE trained on the corpus (any text encodes; no `<unk>` needed).
Special token ids are fixed: `<|endoftext|>` is 0 (end of text, also used for padding), `<unk>` is 1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..core.errors import StudioError
from . import abc
from .archives import zip_members

EOS, UNK = "<|endoftext|>", "<unk>"
EOS_ID, UNK_ID = 0, 1
TEXT_SUFFIXES = {".txt", ".text", ".md", *abc.ABC_SUFFIXES}
MAX_FILE_BYTES = 64 << 20      # one text file (or zip member)
MAX_CORPUS_CHARS = 200_000_000  # everything together
FORTUNES_DIR = Path("/usr/share/games/fortunes")
# The copyright file gives the University of California BSD licence with its advertising clause deleted.
FORTUNES_LICENSE = ("BSD-3-Clause (fortune-mod, The Regents of the University of California; Debian packages "
                    "fortunes and fortunes-min, see /usr/share/doc/fortunes/copyright)")

# Built-in corpora: the Debian fortune files (entries separated by lines holding only "%").
BUILTIN_CORPORA = {
    "fortunes": {"title": "Debian fortunes: all 43 files (2.56 M characters)", "files": None},
    "fortunes-poems": {"title": "Debian fortunes: songs-poems + literature (287 K characters)",
                       "files": ("songs-poems", "literature")},
    **{name: {"title": spec["title"], "abc": spec} for name, spec in abc.BUILTIN_ABC.items()},
}


@dataclass
class TextCorpus:
    """Documents ready to train on, with where they came from and what was skipped (name, reason).

    `validation`, when given, holds the held-out documents (ABC tunes are split by tune); otherwise the last
    part of the joined text validates. `format` is "abc" when every document is an ABC tune."""
    documents: list[str]
    source: str
    license: str
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    validation: list[str] | None = None
    format: str = "text"

    @property
    def text(self) -> str:
        return "\n\n".join(self.documents + (self.validation or []))

    def split(self, val_fraction: float = 0.1) -> tuple[str, str]:
        """(training text, validation text): the held-out documents when there are some, else `split`."""
        if self.validation:
            return "\n\n".join(self.documents), "\n\n".join(self.validation)
        return split(self.text, val_fraction)

    def report(self) -> str:
        lines = [f"{len(self.used)} file(s), {len(self.documents)} document(s), {len(self.text):,} characters"]
        lines += [f"skipped {name}: {why}" for name, why in self.skipped]
        return "\n".join(lines)


# -- reading files ------------------------------------------------------------------------------------
def decode_text(data: bytes, name: str) -> str:
    """Bytes of a text file -> str. Refuses binary files and empty ones with a StudioError saying which."""
    if not data.strip():
        raise StudioError(f"{name} is empty")
    if b"\x00" in data[:65536]:
        raise StudioError(f"{name} is not a text file (it holds binary data); upload plain .txt files")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise StudioError(f"{name} is not UTF-8 or Windows-1252 text; save it as UTF-8 .txt")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Control characters other than tab, newline, backspace and bell mean a binary file that decoded by luck.
    controls = sum(1 for c in text[:65536] if ord(c) < 32 and c not in "\t\n\x08\x07\x0c")
    if controls > max(8, len(text[:65536]) // 100):
        raise StudioError(f"{name} is not a text file (it holds binary data); upload plain .txt files")
    return text


def _members(path: Path) -> Iterator[tuple[str, bytes | None, str]]:
    """The text files inside a zip or a folder: (name, bytes or None, why skipped)."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and not child.name.startswith("."):
                if child.suffix.lower() not in TEXT_SUFFIXES:
                    yield str(child.relative_to(path)), None, "not a .txt file"
                elif child.stat().st_size > MAX_FILE_BYTES:
                    yield str(child.relative_to(path)), None, f"larger than {MAX_FILE_BYTES >> 20} MB"
                else:
                    yield str(child.relative_to(path)), child.read_bytes(), ""
    else:
        yield from zip_members(path, TEXT_SUFFIXES, "not a .txt file", MAX_FILE_BYTES)


def texts_from_files(paths: list[str | Path]) -> TextCorpus:
    """Read uploaded text files, zips of .txt files and folders into a corpus, one document per file.

    A file the user chose directly that is empty or binary is refused with a StudioError naming it (any
    suffix is read as text: writers keep notes as .txt, .md or without a suffix); inside a zip or a folder,
    such files are skipped and reported, and the corpus is refused only when nothing usable is left.
    """
    if not paths:
        raise StudioError("upload .txt files or a zip of them, or pick a built-in corpus")
    documents, used, skipped, total, tunes = [], [], [], 0, []

    def add(name: str, text: str) -> None:
        nonlocal total
        total += len(text)
        if total > MAX_CORPUS_CHARS:
            raise StudioError(f"the corpus is larger than {MAX_CORPUS_CHARS:,} characters; upload less text")
        if Path(name).suffix.lower() in abc.ABC_SUFFIXES:  # one normalised tune per document
            found = abc.abc_documents(text, Path(name).name)
            documents.extend(found)
            tunes.extend(found)
        else:
            documents.append(text)
        used.append(name)

    for path in map(Path, paths):
        if path.is_dir() or path.suffix.lower() == ".zip":
            for name, data, reason in _members(path):
                try:
                    if data is None:
                        raise StudioError(reason)
                    add(name, decode_text(data, name).strip("\n"))
                except StudioError as exc:
                    skipped.append((name, str(exc).removeprefix(name + " ").removeprefix(": ")))
        elif not path.is_file():
            raise StudioError(f"{path.name}: file not found")
        elif path.stat().st_size > MAX_FILE_BYTES:
            raise StudioError(f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MB")
        else:
            add(path.name, decode_text(path.read_bytes(), path.name).strip("\n"))
    if not documents:
        detail = "; ".join(f"{n}: {why}" for n, why in skipped[:5])
        raise StudioError("no usable text was found" + (f" ({detail})" if detail else "")
                          + ". Upload plain .txt files (UTF-8), or a zip of them")
    names = sorted({Path(p).name for p in paths})
    corpus = TextCorpus(documents, source="uploaded: " + ", ".join(names[:5]), license="the uploader's",
                        used=used, skipped=skipped)
    if len(tunes) == len(documents):  # all ABC: hold out whole tunes, chosen by title
        corpus.format = "abc"
        held = [d for d in documents if abc.is_validation(abc.parse_tune(d).title)]
        if held and len(held) < len(documents):
            corpus.documents = [d for d in documents if d not in held]
            corpus.validation = held
    return corpus


# -- the fortunes corpus --------------------------------------------------------------------------------
def fortune_entries(text: str) -> list[str]:
    """The entries of one fortune file: blocks separated by lines holding only '%', trimmed, empty ones dropped."""
    entries = (e.strip("\n") for e in re.split(r"^%[ \t]*$", text, flags=re.M))
    return [e for e in entries if e.strip()]


def fortune_files(folder: Path = FORTUNES_DIR) -> list[Path]:
    """The fortune text files in `folder` (not the .dat indexes, not the .u8 links), sorted by name."""
    if not folder.is_dir():
        raise StudioError(f"the fortunes corpus is not installed ({folder} is missing); on Debian or Ubuntu: "
                          "apt-get install fortunes fortunes-min")
    return sorted(p for p in folder.iterdir() if p.is_file() and "." not in p.name)


def builtin_corpus(name: str, folder: Path = FORTUNES_DIR) -> TextCorpus:
    """A built-in corpus: every entry of the chosen fortune files, in file order, one document per entry."""
    if name not in BUILTIN_CORPORA:
        raise StudioError(f"unknown built-in corpus {name!r}; choose one of {', '.join(BUILTIN_CORPORA)}")
    if "abc" in BUILTIN_CORPORA[name]:
        spec = BUILTIN_CORPORA[name]["abc"]
        tunes = abc.abc_corpus(spec["collections"], transpositions=spec["transpositions"])
        return TextCorpus(tunes.train, source=tunes.source, license=tunes.license, used=tunes.used,
                          skipped=tunes.skipped, validation=tunes.validation, format="abc")
    files = fortune_files(folder)
    wanted = BUILTIN_CORPORA[name]["files"]
    if wanted is not None:
        files = [p for p in files if p.name in wanted]
        files.sort(key=lambda p: wanted.index(p.name))
        if len(files) != len(wanted):
            raise StudioError(f"the fortunes corpus lacks {', '.join(set(wanted) - {p.name for p in files})}; "
                              "apt-get install fortunes")
    documents = []
    for path in files:
        documents += fortune_entries(path.read_bytes().decode("utf-8", errors="replace"))
    return TextCorpus(documents, source=f"Debian fortunes ({len(files)} files from {folder})",
                      license=FORTUNES_LICENSE, used=[p.name for p in files])


# -- tokenizers ----------------------------------------------------------------------------------------
def build_tokenizer(kind: str, text: str, vocab_size: int = 2048):
    """A transformers fast tokenizer for `text`: "char" (one token per character) or "bpe" (byte-level BPE
    with at most `vocab_size` tokens). `<|endoftext|>` has id 0 and pads; `<unk>` has id 1."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "char":
        chars = sorted(set(text))
        vocab = {EOS: EOS_ID, UNK: UNK_ID, **{c: i + 2 for i, c in enumerate(chars)}}
        tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
        # `[\s\S]` is one character including newlines (the Oniguruma regex has no dot-all flag).
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()  # join characters with nothing between them
    elif kind == "bpe":
        if not 256 + 2 <= vocab_size <= 65536:
            raise StudioError(f"BPE vocabulary size must be between 258 and 65536; got {vocab_size}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, UNK], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(_chunks(text), trainer=trainer)
    else:
        raise StudioError(f"tokenizer must be 'char' or 'bpe'; got {kind!r}")
    tok.add_special_tokens([EOS, UNK])
    assert tok.token_to_id(EOS) == EOS_ID and tok.token_to_id(UNK) == UNK_ID
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS,
                                   unk_token=UNK)


def _chunks(text: str, size: int = 1 << 16) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i:i + size]


def encode(tokenizer, text: str):
    """Token ids of `text` as an int64 tensor (N,). The text is encoded in pieces cut after a newline, in
    parallel: exact for "char"; for "bpe" a whitespace token may split at a cut (once per 64 K characters)."""
    import torch

    ids: list[int] = []
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + (1 << 16))
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    for enc in tokenizer.backend_tokenizer.encode_batch(pieces, add_special_tokens=False):
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


def split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """First (1 - val_fraction) of the characters to train on, the rest to validate."""
    if not 0 < val_fraction < 0.5:
        raise StudioError(f"validation fraction must be above 0 and below 0.5; got {val_fraction}")
    cut = int(len(text) * (1 - val_fraction))
    return text[:cut], text[cut:]
