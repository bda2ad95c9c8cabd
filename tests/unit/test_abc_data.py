"""ABC tunes as training text: splitting and normalising tune books, transposition checked through music21,
the built-in collections' split and licences, and .abc uploads in the text corpus reader."""
from __future__ import annotations

import zipfile

import pytest
from music21 import converter

from studio.core.errors import StudioError
from studio.data import abc
from studio.data.text import BUILTIN_CORPORA, builtin_corpus, texts_from_files
from tests.support.abc import KESH, write_tune_files


def test_a_tune_book_becomes_normalised_tunes():
    tunes, skipped = abc.tunes_from_text(KESH, "book.abc")
    assert not skipped and [t.title for t in tunes] == ["The Kesh", "Lannigan's Ball"]
    kesh = tunes[0].text()
    assert kesh.splitlines()[:5] == ["X:1", "T:The Kesh", "M:6/8", "L:1/8", "K:G"]
    assert '"G"' not in kesh and "~" not in kesh and "w:" not in kesh and "R:" not in kesh
    assert "|:GAG GAB|ABA ABd|e3 dBA|1 BAG AGE:|2 BAG A2B||" in kesh
    assert tunes[1].fields["L"] == "1/8"  # the default unit for 6/8, written out


def test_tunes_left_out_say_why():
    text = "X:1\nT:free\nM:none\nK:D\nabc d\n\nX:2\nT:voices\nM:4/4\nV:1\nK:D\nabcd|\n\nX:3\nT:no key\nM:4/4\nabcd|\n"
    tunes, skipped = abc.tunes_from_text(text, "odd.abc")
    assert not tunes
    assert [why for _, why in skipped] == ["free or unusual metre (none)", "several voices", "no K: (key) field"]
    assert skipped[0][0] == "odd.abc line 1"
    with pytest.raises(StudioError, match="odd.abc holds no usable ABC tune"):
        abc.abc_documents(text, "odd.abc")


@pytest.mark.parametrize("tonic", ["A", "Bb", "F#", "C"])
def test_transposition_moves_every_pitch_by_one_interval(tonic):
    tunes, _ = abc.collection_tunes("oneills1850")
    for tune in tunes[:6]:
        moved = abc.transpose(tune, tonic)
        assert moved is not None, tune.fields
        before = [p.ps for n in converter.parse(tune.text(), format="abc").recurse().notes for p in n.pitches]
        after = [p.ps for n in converter.parse(moved.text(), format="abc").recurse().notes for p in n.pitches]
        assert len(before) == len(after) > 10
        assert len({round(b - a) for a, b in zip(before, after)}) == 1, (tune.title, tonic)
        assert moved.fields["K"].startswith(tonic)


def test_transposition_refuses_key_changes():
    tune = abc.parse_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:D\nabcd|\nK:G\nabcd|")
    assert abc.transpose(tune, "G") is None


def test_builtin_collections_split_by_title_with_licences():
    corpus = builtin_corpus("folk-abc")
    assert corpus.format == "abc" and corpus.validation
    train_titles = {abc.parse_tune(d).title for d in corpus.documents}
    val_titles = {abc.parse_tune(d).title for d in corpus.validation}
    assert not train_titles & val_titles  # no tune (or transposed copy) on both sides
    assert 0.05 < len(corpus.validation) / (len(corpus.documents) / 3) < 0.2  # about a tenth (train x3 keys)
    for name in ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk"):
        assert name in corpus.license and "public domain" in corpus.license
    assert "essenFolksong" not in corpus.license  # non-commercial: only in folk-abc-essen
    assert "non-commercial" in abc.COLLECTIONS["essenFolksong"]["license"]
    assert "folk-abc-essen" in BUILTIN_CORPORA
    train, val = corpus.split()
    assert train.startswith("X:1\nT:") and "\n\nX:1\n" in val


def test_abc_uploads_are_tunes_split_by_title(tmp_path):
    files = write_tune_files(tmp_path / "book", count=40)
    corpus = texts_from_files(files)
    assert corpus.format == "abc" and len(corpus.documents) + len(corpus.validation) == 40
    archive = tmp_path / "tunes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in files:
            z.write(path, path.name)
        z.writestr("notes.bin", b"\x00\x01binary")
    zipped = texts_from_files([archive])
    assert zipped.format == "abc" and len(zipped.documents) + len(zipped.validation) == 40
    assert any("notes.bin" in name for name, _ in zipped.skipped)
    mixed = texts_from_files([files[0], _txt(tmp_path)])
    assert mixed.format == "text" and mixed.validation is None


def test_an_abc_upload_without_tunes_is_refused(tmp_path):
    path = tmp_path / "notes.abc"
    path.write_text("just some words, no tune here\n", encoding="utf-8")
    with pytest.raises(StudioError, match="notes.abc holds no usable ABC tune"):
        texts_from_files([path])


def _txt(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("Some words.\n", encoding="utf-8")
    return path
