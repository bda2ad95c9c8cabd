"""Tunes in ABC notation as training text: reading .abc files, one normalised tune per entry, transposition,
and the folk collections the `music21` wheel ships.

ABC is plain text (https://abcnotation.com/wiki/abc:standard:v2.1): a tune opens with an `X:` line, header
fields follow (`T:` title, `M:` metre, `L:` unit note length, `K:` key, which ends the header), then the
melody, and a blank line ends it. A language model learns it like any text, so this module only turns the
many house styles of the collections into one plain form the model can learn and the studio can check:

    X:1
    T:The Wind That Shakes the Barley
    M:2/4
    L:1/16
    K:D
    A2AB AFED | B2BA B2d2 | ...

Normalising keeps the notes, rests, bar lines, repeats, ties, slurs, tuplets, grace notes and broken
rhythms, and drops what the model need not learn: comments, lyrics, chord symbols and annotations in quotes,
`!...!` decorations, line continuations and fields other than T, M, L and K. Tunes in several voices, in free
metre (`M:none`) or without bar lines are left out.

Transposition is done on the text (music21 reads ABC but does not write it): every note letter moves by the
same number of scale steps, the key moves with it, and explicit accidentals are rewritten relative to the new
key signature, so every pitch moves by the same interval (tests check this through music21).

Validation tunes are chosen by title (a hash of the title's letters), so a tune found in two collections, or
transposed, never sits on both sides of the split.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import StudioError

ABC_SUFFIXES = {".abc"}

# The ABC collections in music21 10.5.1's corpus folder. Licences follow music21's corpus/license.txt ("each
# piece ... is either out of copyright in the United States or is licensed for use") and each collection's
# own notes; Essen's permission is for non-commercial use only, so it is not in the default corpus.
COLLECTIONS = {
    "ryansMammoth": {
        "title": "Ryan's Mammoth Collection (W. B. Ryan, Boston, 1883)",
        "license": "public domain (published 1883); ABC transcriptions by Ray Davies and others, distributed "
                   "with music21 by the encoders' permission (music21 corpus/license.txt)"},
    "oneills1850": {
        "title": "O'Neill's Music of Ireland (F. O'Neill, Chicago, 1903; 1,850 melodies)",
        "license": "public domain (published 1903); ABC transcriptions by Norbert Paap, distributed with music21 "
                   "by the encoder's permission (music21 corpus/license.txt)"},
    "airdsAirs": {
        "title": "Aird's Selection of Scotch, English, Irish and Foreign Airs (J. Aird, Glasgow, 1778-1803)",
        "license": "public domain (published 1778-1803); ABC transcriptions by Jack Campin (2009), distributed "
                   "with music21 by the encoder's permission (music21 corpus/license.txt)"},
    "miscFolk": {
        "title": "American fife tunes and Northumbrian Minstrelsy (1882), ABC by Jack Campin",
        "license": "public domain sources (18th-19th century); ABC transcriptions by Jack Campin, distributed "
                   "with music21 by the encoder's permission (music21 corpus/license.txt)"},
    "essenFolksong": {
        "title": "Essen folk-song collection (EsAC; ABC by Seymour Shlien)",
        "license": "non-commercial use only: permission for non-commercial distribution and use in music21 "
                   "(music21 corpus/essenFolksong/license.txt; the database's legal status is unclear)"},
}
# Built-in ABC corpora for the Train tab, `/train` and the CLI (`--builtin folk-abc`).
# Each training tune also comes in `transpositions` other common keys (validation tunes stay as written).
BUILTIN_ABC = {
    "folk-abc": {"title": "Folk tunes in ABC: Ryan's, O'Neill's, Aird's, fife (public domain, 4,399 tunes)",
                 "collections": ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk"), "transpositions": 2},
    "folk-abc-essen": {"title": "Folk tunes in ABC with the Essen songs (non-commercial use only)",
                       "collections": ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk", "essenFolksong"),
                       "transpositions": 2},
}

HEADER_ORDER = ("T", "M", "L", "K")
NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)")
FIELD_LINE = re.compile(r"^([A-Za-z+]):(.*)$")
INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
KEY = re.compile(r"^([A-G])([#b]?)\s*(maj|major|ion|ionian|mix|mixolydian|dor|dorian|phr|phrygian|lyd|lydian|"
                 r"loc|locrian|aeo|aeolian|min|minor|m)?$", re.I)
LETTERS = "CDEFGAB"
STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAJOR_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "aeo": -3, "min": -3, "m": -3, "phr": -4, "loc": -5,
               "lyd": 1}
SHARP_ORDER, FLAT_ORDER = "FCGDAEB", "BEADGCF"


@dataclass
class Tune:
    """One tune: its header fields (T, M, L, K), its melody lines, and where it came from."""
    fields: dict[str, str]
    body: list[str]
    source: str = ""
    line: int = 1  # the tune's first line in its file

    def text(self, number: int = 1) -> str:
        """The tune as ABC, without a final newline (tunes are joined by one blank line)."""
        head = [f"X:{number}"] + [f"{k}:{self.fields[k]}" for k in HEADER_ORDER if self.fields.get(k)]
        return "\n".join(head + self.body)

    @property
    def title(self) -> str:
        return self.fields.get("T", "")


@dataclass
class AbcCorpus:
    """Normalised tunes split by title into training and validation, with what was left out and why."""
    train: list[str]
    validation: list[str]
    source: str
    license: str
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------------------
def split_tunes(text: str) -> list[tuple[int, str]]:
    """The tunes in an ABC file as (first line number, text). A tune starts at an `X:` line and ends at a
    blank line; text with no `X:` line but a `K:` line (a fragment someone typed) is one tune."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    tunes, start = [], None
    for i, line in enumerate(lines + [""]):
        if line.startswith("X:"):
            if start is not None:
                tunes.append((start + 1, "\n".join(lines[start:i])))
            start = i
        elif not line.strip() and start is not None:
            tunes.append((start + 1, "\n".join(lines[start:i])))
            start = None
    if not tunes and re.search(r"^K:", text, flags=re.M):
        first = next(i for i, line in enumerate(lines) if line.strip())
        tunes.append((first + 1, text.strip("\n")))
    return tunes


def _clean_body_line(line: str) -> str:
    line = line.split("%", 1)[0]
    line = re.sub(r'"[^"]*"', "", line)            # chord symbols and annotations
    line = re.sub(r"![^!\n]*!|\+[^+\n]*\+", "", line)  # long decorations
    line = INLINE_FIELD.sub(lambda m: m.group(0) if m.group(1) in "KML" else "", line)
    line = line.replace("\t", " ")
    line = _outside_fields(line, lambda part: re.sub(r"[uvTHLMOPS~]", "", part))  # bowing, one-letter decorations
    return re.sub(r" {2,}", " ", line).rstrip().rstrip("\\").rstrip()


def parse_tune(text: str, source: str = "", line: int = 1) -> Tune:
    """A tune's text -> Tune. The header ends at the first K: line; fields other than T, M, L, K are dropped
    (the first T: is the title); in the melody, field lines other than K:, M: and L: are dropped."""
    fields: dict[str, str] = {}
    body: list[str] = []
    in_header = True
    for raw in text.split("\n"):
        if raw.startswith("%"):
            continue
        m = FIELD_LINE.match(raw)
        if in_header:
            if not m:
                if raw.strip():  # melody before K: (some files); the header ends here
                    in_header = False
                    body.append(_clean_body_line(raw))
                continue
            key, value = m.group(1), m.group(2).split("%", 1)[0].strip()
            if key in ("T", "M", "L") and key not in fields:
                fields[key] = value
            elif key == "K":
                fields["K"] = value
                in_header = False
            elif key == "V":
                fields["V"] = value
            continue
        if m and not raw.startswith("|"):
            key, value = m.group(1), m.group(2).split("%", 1)[0].strip()
            if key in ("K", "M", "L"):
                body.append(f"{key}:{value}")
            elif key == "V":
                fields["V"] = value
            continue
        cleaned = _clean_body_line(raw)
        if cleaned:
            body.append(cleaned)
    return Tune(fields, body, source, line)


def default_unit(metre: str) -> str:
    """The unit note length ABC assumes without an L: field: 1/16 below 3/4 metres, else 1/8."""
    m = re.match(r"^(\d+)/(\d+)$", metre.strip())
    if m and int(m.group(1)) / int(m.group(2)) < 0.75:
        return "1/16"
    return "1/8"


def normalise(tune: Tune) -> tuple[Tune | None, str]:
    """The tune in the studio's plain form, or (None, why it was left out)."""
    f = dict(tune.fields)
    if "V" in f:
        return None, "several voices"
    if not f.get("K"):
        return None, "no K: (key) field"
    metre = f.get("M", "").strip()
    if metre in ("", "none", "None") or not re.match(r"^(\d+/\d+|C\|?)$", metre):
        return None, f"free or unusual metre ({metre or 'none'})"
    if not any("|" in line for line in tune.body):
        return None, "no bar lines"
    f["L"] = (f.get("L") or default_unit(metre)).strip()
    title = "".join(c for c in f.get("T", "") if c.isprintable())
    f["T"] = re.sub(r"\s+", " ", title.strip()) or "Untitled"
    f["K"] = f["K"].split()[0] if f["K"].split() else f["K"]
    body = [line for line in tune.body if line.strip()]
    if not body:
        return None, "no melody"
    return Tune({k: f[k] for k in HEADER_ORDER}, body, tune.source, tune.line), ""


def tunes_from_text(text: str, source: str = "") -> tuple[list[Tune], list[tuple[str, str]]]:
    """Normalised tunes of an ABC file, and (where, why) for each tune left out."""
    tunes, skipped = [], []
    for line, chunk in split_tunes(text):
        tune, why = normalise(parse_tune(chunk, source, line))
        if tune is None:
            skipped.append((f"{source} line {line}", why))
        else:
            tunes.append(tune)
    return tunes, skipped


def abc_documents(text: str, name: str) -> list[str]:
    """The normalised tunes of one uploaded .abc file as training documents; a StudioError if none is usable."""
    tunes, skipped = tunes_from_text(text, name)
    if not tunes:
        why = f" ({skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise StudioError(f"{name} holds no usable ABC tune{why}; a tune needs X:, M:, K: lines and bar lines")
    return [t.text() for t in tunes]


# -- keys and transposition -------------------------------------------------------------------------------
def key_fifths(key: str) -> tuple[int, str, str] | None:
    """A K: value -> (sharps minus flats, tonic like 'F#', mode like 'min'), or None for keys the studio does
    not model (bagpipe keys, explicit accidentals, 'none')."""
    m = KEY.match(key.strip())
    if not m:
        return None
    letter, accidental, mode = m.group(1).upper(), m.group(2), (m.group(3) or "maj").lower()[:3]
    mode = "m" if mode == "m" else mode
    fifths = MAJOR_FIFTHS[letter] + {"#": 7, "b": -7, "": 0}[accidental] + MODE_FIFTHS[mode]
    return fifths, letter + accidental, mode


def signature(fifths: int) -> dict[str, int]:
    """The alteration (-1, 0, +1) of each letter under a key signature of `fifths` sharps (negative: flats)."""
    alter = {letter: 0 for letter in LETTERS}
    for letter in (SHARP_ORDER[:fifths] if fifths > 0 else FLAT_ORDER[:-fifths]):
        alter[letter] = 1 if fifths > 0 else -1
    return alter


ACCIDENTALS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
WRITE_ACCIDENTAL = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}


def transpose(tune: Tune, tonic: str) -> Tune | None:
    """The tune moved to a new tonic ('G', 'Bb', 'F#'), same mode; None when it cannot be (key changes in the
    melody, keys not modelled, or a pitch that would need a triple accidental)."""
    info = key_fifths(tune.fields["K"])
    if info is None or any(line.startswith("K:") or "[K:" in line for line in tune.body):
        return None
    fifths, old_tonic, mode = info
    target = key_fifths(tonic + ("" if mode == "maj" else mode))
    if target is None or abs(target[0]) > 7:
        return None
    steps = (LETTERS.index(tonic[0].upper()) - LETTERS.index(old_tonic[0])) % 7
    steps = steps - 7 if steps > 3 else steps  # move at most a fourth, up or down
    old_sig, new_sig = signature(fifths), signature(target[0])

    def move(m: re.Match) -> str:
        accidental, letter, marks = m.group(1), m.group(2), m.group(3)
        octave = (5 if letter.islower() else 4) + marks.count("'") - marks.count(",")
        index = 7 * octave + LETTERS.index(letter.upper()) + steps
        octave, new_letter = divmod(index, 7)
        new_letter = LETTERS[new_letter]
        written = ""
        if accidental is not None:
            alter = new_sig[new_letter] + ACCIDENTALS[accidental] - old_sig[letter.upper()]
            if alter not in WRITE_ACCIDENTAL:
                raise ValueError("triple accidental")
            written = WRITE_ACCIDENTAL[alter]
        if octave >= 5:
            return written + new_letter.lower() + "'" * (octave - 5)
        return written + new_letter + "," * (4 - octave)

    try:
        body = [line if re.match(r"^[ML]:", line) else _outside_fields(line, lambda s: NOTE.sub(move, s))
                for line in tune.body]
    except ValueError:
        return None
    mode_suffix = {"maj": "", "m": "m"}.get(mode, mode)
    return Tune({**tune.fields, "K": target[1] + mode_suffix}, body, tune.source, tune.line)


def _outside_fields(line: str, fn) -> str:
    """Apply `fn` to the parts of `line` outside inline fields like [M:3/4]."""
    out, last = [], 0
    for m in INLINE_FIELD.finditer(line):
        out += [fn(line[last:m.start()]), m.group(0)]
        last = m.end()
    return "".join(out + [fn(line[last:])])


COMMON_TONICS = {"maj": ("D", "G", "A", "C", "F"), "m": ("E", "A", "B", "D", "G"),
                 "mix": ("D", "A", "G", "E"), "dor": ("E", "A", "D", "B")}


def augmentations(tune: Tune, count: int) -> list[Tune]:
    """Up to `count` copies of the tune in other common keys of its mode (the folk keys fiddles and whistles
    play in), for data augmentation."""
    info = key_fifths(tune.fields["K"])
    if info is None or count <= 0:
        return []
    out = []
    for tonic in COMMON_TONICS.get(info[2], ()):
        if tonic != info[1] and len(out) < count:
            moved = transpose(tune, tonic)
            if moved is not None:
                out.append(moved)
    return out


# -- the built-in collections -----------------------------------------------------------------------------
def music21_corpus_folder() -> Path:
    try:
        import music21
    except ImportError as exc:  # pragma: no cover - music21 is a requirement
        raise StudioError("the ABC collections come with music21: pip install music21==10.5.1") from exc
    return Path(music21.__file__).resolve().parent / "corpus"


def is_validation(title: str, fraction: float = 0.1) -> bool:
    """Whether a tune of this title validates: a stable hash of its letters, so variants of one tune (the
    same title in two collections, or transposed) fall on one side."""
    letters = re.sub(r"[^a-z]", "", title.lower().removeprefix("the")) or title
    digest = int(hashlib.sha1(letters.encode()).hexdigest()[:8], 16)
    return digest % 1000 < fraction * 1000


def collection_tunes(collection: str, folder: Path | None = None) -> tuple[list[Tune], list[tuple[str, str]]]:
    """Every usable tune of one music21 collection, in file order, and what was left out."""
    if collection not in COLLECTIONS:
        raise StudioError(f"unknown ABC collection {collection!r}; choose from {', '.join(COLLECTIONS)}")
    root = (folder or music21_corpus_folder()) / collection
    if not root.is_dir():
        raise StudioError(f"the music21 corpus has no {collection} folder ({root}); pip install music21==10.5.1")
    tunes, skipped = [], []
    for path in sorted(root.glob("*.abc")):
        text = path.read_bytes().decode("utf-8", errors="replace")
        found, left = tunes_from_text(text, f"{collection}/{path.name}")
        tunes += found
        skipped += left
    return tunes, skipped


def abc_corpus(collections: tuple[str, ...] | list[str], val_fraction: float = 0.1, transpositions: int = 0,
               folder: Path | None = None) -> AbcCorpus:
    """Normalised tunes of the chosen collections, split by title; exact duplicates of a melody are dropped.
    `transpositions` adds that many copies of each training tune in other keys (validation stays as written,
    so validation loss is comparable with and without augmentation)."""
    train, validation, skipped, seen = [], [], [], set()
    for name in collections:
        tunes, left = collection_tunes(name, folder)
        skipped += left
        for tune in tunes:
            melody = "\n".join(tune.body)
            if melody in seen:
                skipped.append((f"{tune.source} line {tune.line}", "duplicate melody"))
                continue
            seen.add(melody)
            if is_validation(tune.title, val_fraction):
                validation.append(tune.text())
            else:
                train.append(tune.text())
                train += [t.text() for t in augmentations(tune, transpositions)]
    source = "music21 10.5.1 corpus: " + "; ".join(COLLECTIONS[c]["title"] for c in collections)
    licence = " | ".join(f"{c}: {COLLECTIONS[c]['license']}" for c in collections)
    return AbcCorpus(train, validation, source, licence, used=list(collections), skipped=skipped)
