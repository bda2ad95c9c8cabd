"""Reading writers' text, the fortunes corpus, tokenizers and the train/validation split."""
from __future__ import annotations

import zipfile

import pytest

from studio.core.errors import StudioError
from studio.data.text import (
    EOS_ID,
    FORTUNES_DIR,
    UNK_ID,
    build_tokenizer,
    builtin_corpus,
    encode,
    fortune_entries,
    split,
    texts_from_files,
)
from tests.support.text import TYGER, write_corpus

needs_fortunes = pytest.mark.skipif(not FORTUNES_DIR.is_dir(), reason="Debian fortunes not installed "
                                    "(apt-get install fortunes fortunes-min)")


def test_text_files_and_zip_with_bad_members(tmp_path):
    paths = write_corpus(tmp_path / "poems", copies=2)
    corpus = texts_from_files(paths)
    assert corpus.used == ["poem-0.txt", "poem-1.txt"] and corpus.text.startswith("Tyger Tyger")
    archive = tmp_path / "poems.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(paths[0], "poems/a.txt")
        zf.writestr("poems/empty.txt", "   \n")
        zf.writestr("poems/picture.png", b"\x89PNG\r\n\x1a\n\x00\x00")
        zf.writestr("poems/binary.txt", bytes(range(256)) * 4)
        zf.writestr("__MACOSX/._a.txt", b"junk")
    corpus = texts_from_files([archive])
    assert corpus.used == ["poems.zip/poems/a.txt"]
    reasons = dict(corpus.skipped)
    assert "empty" in reasons["poems.zip/poems/empty.txt"]
    assert "not a .txt" in reasons["poems.zip/poems/picture.png"]
    assert "binary" in reasons["poems.zip/poems/binary.txt"]
    assert "skipped poems.zip/poems/empty.txt" in corpus.report()


def test_empty_binary_and_missing_files_are_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(StudioError, match="empty.txt is empty"):
        texts_from_files([empty])
    binary = tmp_path / "song.txt"
    binary.write_bytes(b"\x00\x01\x02PK" * 100)
    with pytest.raises(StudioError, match="song.txt is not a text file"):
        texts_from_files([binary])
    only_bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(only_bad, "w") as zf:
        zf.writestr("x.txt", "")
    with pytest.raises(StudioError, match="no usable text"):
        texts_from_files([only_bad])
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(StudioError, match="not a valid zip"):
        texts_from_files([not_zip])
    with pytest.raises(StudioError, match="upload .txt"):
        texts_from_files([])


def test_windows_1252_text_is_read(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\u00e9 cr\u00e8me \u2014 na\u00efve".encode("cp1252"))
    assert texts_from_files([path]).text == "Caf\u00e9 cr\u00e8me \u2014 na\u00efve"


def test_fortune_entries_are_split_on_percent_lines():
    raw = "First entry\n  -- someone\n%\nSecond\n\nentry\n%\n\n%\nThird\n"
    assert fortune_entries(raw) == ["First entry\n  -- someone", "Second\n\nentry", "Third"]


@needs_fortunes
def test_builtin_fortunes_poems_corpus():
    corpus = builtin_corpus("fortunes-poems")
    assert corpus.used == ["songs-poems", "literature"]
    assert len(corpus.documents) == 982 and len(corpus.text) == 286_579
    assert "BSD" in corpus.license
    with pytest.raises(StudioError, match="unknown built-in corpus"):
        builtin_corpus("shakespeare")


def test_char_tokenizer_round_trip_and_special_ids(tmp_path):
    from transformers import AutoTokenizer

    tok = build_tokenizer("char", TYGER)
    assert (tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (EOS_ID, EOS_ID, UNK_ID)
    ids = encode(tok, TYGER)
    assert ids.numel() == len(TYGER) and tok.decode(ids.tolist()) == TYGER
    assert tok("Tyger\u00e9", add_special_tokens=False)["input_ids"][-1] == UNK_ID  # unseen character
    tok.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert again("burning bright", add_special_tokens=False)["input_ids"] == tok("burning bright",
                                                                                add_special_tokens=False)["input_ids"]


def test_bpe_tokenizer_encodes_any_text():
    tok = build_tokenizer("bpe", TYGER * 3, vocab_size=300)
    assert tok.eos_token_id == EOS_ID and len(tok) <= 300
    text = "Tyger \u00fcber \u6f22\u5b57 \U0001f42f"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert len(tok(TYGER, add_special_tokens=False)["input_ids"]) < len(TYGER)  # merges were learnt
    with pytest.raises(StudioError, match="tokenizer must be"):
        build_tokenizer("word", TYGER)


def test_split_keeps_the_end_for_validation():
    train, val = split("abcdefghij", 0.1)
    assert (train, val) == ("abcdefghi", "j")
    with pytest.raises(StudioError):
        split("abc", 0.0)
