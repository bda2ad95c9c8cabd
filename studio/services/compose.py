"""Compose: tunes in ABC notation from a language model trained on tunes, as text, score, MIDI and sound.

`compose(...)` builds the tune's header from the artist's fields (title, key, metre, unit length, tempo), or
takes the header and opening bars of a melody the artist typed or uploaded, and has an ABC model write the
requested number of bars under an ABC grammar (`studio.music.grammar`: the header comes first because it is
the prompt; no blank line or field inside the melody; chords and grace notes closed; each bar's length counted
in unit lengths, so a bar line comes only on a full bar; bars counted, and the tune ends with a final bar line
when the count is reached). Progress reports the bars written; a stop keeps the tune finished so far. Every tune is then checked line by line and by
music21 (`studio.music.notation`) and engraved (verovio). A tune that fails is drawn again with the next seed of its series (up to
`MAX_ATTEMPTS`); so is one whose bars do not all fill the metre, keeping the best of the attempts. A tune
that never passes is refused, never shown as valid.

Outputs, each carrying the parameters and the statement that the tune is AI-generated: the ABC text (as `%`
comment lines), a MIDI file (text events), an SVG score (verovio; an XML comment) and a WAV recording (RIFF
INFO tags), played by FluidSynth with a General MIDI SoundFont when installed, else the built-in synthesiser.
Only models trained on ABC tunes are offered (their studio.json says `"format": "abc"`); any other model is
refused with the list of ABC models. The same model, settings and seed give the same tune.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..core.errors import StudioError, check_number
from ..core.outputs import new_output_dir
from ..core.seeds import resolve_seed
from ..data.abc import parse_tune
from ..families.text import context_length, generate_tokens
from ..music import audio, midi, notation, score
from ..music.grammar import MelodyState
from .gallery import save_to_gallery
from .models import list_models, model_exists, model_record
from .write import SETTINGS, load_text_model

DEFAULT_MODEL = "folk-abc-char"
INSTRUMENTS = tuple(midi.INSTRUMENTS)
MAX_ATTEMPTS = 3
BARS_RANGE = (1, 64)
MAX_MELODY_CHARS = 4000
KEEP_TIME = True     # the grammar counts bar lengths (benchmarks/abc.py turns it off to compare)
CHARS_PER_BAR = 40   # room for the model to write a bar; a bar never exceeds grammar.MAX_BAR_CHARS
AI_NOTICE = "AI-generated: written by a language model in the creative studio"
DEFAULTS = {"title": "Untitled", "key": "D", "metre": "6/8", "unit": "1/8", "tempo": 110, "bars": 16,
            "temperature": 0.8, "top_k": 0, "top_p": 0.95, "instrument": "piano"}


class Stopped(StudioError):
    """Compose was stopped before any tune was finished: nothing to keep (not a fault of the input)."""


@dataclass
class Composition:
    """A composed tune and its files. `abc` is the tune with comment lines holding its parameters."""
    abc: str
    midi: Path
    audio: Path
    svg: Path
    svg_text: str
    parameters: dict
    notes: list[str] = field(default_factory=list)
    gallery_id: str | None = None  # the tune's item in the gallery (ABC, MIDI, WAV, score)


# -- models -----------------------------------------------------------------------------------------------
def abc_models() -> list[str]:
    """The models Compose can use: text models (and LoRA adapters) trained on ABC tunes, shipped first."""
    return [r["name"] for r in list_models(kind="text") if is_abc_model(r["name"])]


def is_abc_model(name: str) -> bool:
    meta = model_record(name).meta
    return meta.get("dataset", {}).get("format") == "abc"


def check_abc_model(model: str | None) -> str:
    name = (model or "").strip() or DEFAULT_MODEL
    choices = abc_models()
    if not model_exists(name):
        if name == DEFAULT_MODEL:
            raise StudioError(f"the shipped ABC model {DEFAULT_MODEL!r} is not installed; choose one of: "
                              f"{', '.join(choices) or 'none yet (train a text model on .abc files)'}")
        raise StudioError(f"no model named {name!r}; ABC models: {', '.join(choices) or 'none'}")
    if not is_abc_model(name):
        raise StudioError(f"{name!r} was not trained on ABC tunes, so it cannot compose; choose an ABC model: "
                          f"{', '.join(choices) or 'none yet (train a text model on .abc files)'}")
    return name


# -- the prompt ---------------------------------------------------------------------------------------------
def _renumber(message: str, offset: int) -> str:
    """A checker's message about the full tune, with line numbers counted in the artist's own melody."""
    return re.sub(r"^line (\d+)", lambda m: f"line {int(m.group(1)) - offset} of the melody", message)


def opening(title: str, key: str, metre: str, unit: str, tempo: int, melody: str) -> tuple[dict, list[str], list[str]]:
    """(header fields, melody lines to continue, notes). A melody with its own K: line brings its header
    (its fields win over the form's); one without is a fragment placed under the form's header."""
    notes: list[str] = []
    melody = (melody or "").replace("\r\n", "\n").strip("\n")
    if len(melody) > MAX_MELODY_CHARS:
        raise StudioError(f"the melody has {len(melody):,} characters; give at most {MAX_MELODY_CHARS:,}")
    fields = {"T": title, "M": metre, "L": unit, "K": key}
    if not melody.strip():
        return fields, [], notes
    if re.search(r"^K:", melody, flags=re.MULTILINE):
        found = notation.check_lines(melody)
        tune = parse_tune(melody)
        for name in ("T", "M", "L", "K"):
            if found.get(name) and found[name] != "none" and found[name] != fields[name]:
                if name != "T" or title == DEFAULTS["title"]:
                    notes.append(f"the melody's {name}:{found[name]} replaces the form's {fields[name]}")
                    fields[name] = found[name]
        body = tune.body
    else:
        head = notation.header(fields["T"], metre, unit, key)
        try:
            notation.check_lines(head + "\n" + melody)
        except StudioError as exc:
            raise StudioError(_renumber(str(exc), head.count("\n") + 1)) from None
        body = parse_tune(head + "\n" + melody).body
    if fields["M"] in ("none", "") or not notation.METRES.match(fields["M"]):
        raise StudioError("the melody needs a metre (an M: line such as M:6/8) so bars can be counted")
    return fields, [line for line in body if line.strip()], notes


# -- writing ------------------------------------------------------------------------------------------------
class GrammarMask:
    """A transformers logits processor: tokens that would break the melody get probability zero. It reads
    the `MelodyState` the writing loop keeps up to date (one character per token)."""

    def __init__(self, tokenizer, state: MelodyState):
        self.state = state
        vocab = tokenizer.get_vocab()
        self.by_char: dict[str, int] = {t: i for t, i in vocab.items() if len(t) == 1}
        self.size = len(tokenizer)
        self._masks: dict[frozenset, torch.Tensor] = {}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        allowed = frozenset(self.state.allowed())
        mask = self._masks.get(allowed)
        if mask is None:
            mask = torch.ones(scores.shape[-1], dtype=torch.bool)
            ids = [self.by_char[c] for c in allowed if c in self.by_char]
            mask[ids] = False
            self._masks[allowed] = mask
        return scores.masked_fill(mask.to(scores.device), float("-inf"))


def _char_level(tokenizer) -> bool:
    special = set(tokenizer.all_special_tokens)
    return all(len(t) == 1 for t in tokenizer.get_vocab() if t not in special)


def _finish(body: str) -> str:
    """End the melody at its last bar line, with a final bar line unless it ends on a repeat."""
    body = body.rstrip()
    cut = body.rfind("|")
    if cut < 0:
        return body + " |]"
    body = body[:cut + 1].rstrip()
    if body.endswith("[|"):
        body = body[:-2] + "|"  # a thick bar line at the very end becomes the final one
    if body.endswith(":|") or body.endswith("|]"):
        return body
    return body.rstrip("|").rstrip() + "|]"


def write_melody(net, tok, prompt: str, prompt_body: str, bars: int, seed: int, settings: dict,
                 on_bar: Callable[[int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> tuple[str, bool]:
    """The model's continuation of `prompt` up to `bars` closed bars, finished with a final bar line;
    and whether it reached the bar count (else it ran out of room, or `cancelled()` turned true: then the
    melody so far ends at its last bar line). `on_bar(n)` is told each time the n-th bar is closed."""
    state = (MelodyState.for_tune(prompt) if KEEP_TIME else MelodyState()).feed(prompt_body if prompt_body else "\n")
    start_bars = state.bars
    grammar = (GrammarMask(tok, state),) if _char_level(tok) else ()
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    context = context_length(net)
    ids = ids[-(context - 1):]
    stream = generate_tokens(net, ids, seeds=[seed], max_new_tokens=bars * CHARS_PER_BAR + 32, context=context,
                             eos_id=None if grammar else tok.eos_token_id, processors=grammar, **settings)
    text, reached, done = "", False, 0
    try:
        for new in stream:
            if cancelled is not None and cancelled():
                break
            piece = tok.decode([int(new[0])], skip_special_tokens=True)
            if not grammar and (not piece or "\n\n" in text + piece):
                break
            text += piece
            state.feed(piece)
            if state.bars - start_bars > done:
                done = state.bars - start_bars
                if on_bar is not None:
                    on_bar(done)
            if done >= bars:
                reached = True
                break
    finally:
        stream.close()
    return _finish(text), reached


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of the attempt-th draw of one tune (attempt 0 is the seed itself)."""
    return (seed + attempt * 1_000_003) % (2 ** 31)


# -- composing ------------------------------------------------------------------------------------------
def check_settings(key, metre, unit, tempo, bars, temperature, top_k, top_p, instrument) -> dict:
    return {"key": notation.check_key(key), "metre": notation.check_metre(metre), "unit": notation.check_unit(unit),
            "tempo": notation.check_tempo(tempo), "bars": check_number("bars", bars, *BARS_RANGE, whole=True),
            "temperature": SETTINGS["temperature"].check(temperature), "top_k": SETTINGS["top_k"].check(top_k),
            "top_p": SETTINGS["top_p"].check(top_p), "instrument": _instrument(instrument)}


def _instrument(name) -> str:
    midi.check_instrument(str(name))
    return str(name)


def compose(model: str | None = None, title: str = DEFAULTS["title"], key: str = DEFAULTS["key"],
            metre: str = DEFAULTS["metre"], unit: str = DEFAULTS["unit"], tempo: int = DEFAULTS["tempo"],
            bars: int = DEFAULTS["bars"], temperature: float | None = None, top_k: int | None = None,
            top_p: float | None = None, seed: int | None = -1, melody: str = "",
            instrument: str = DEFAULTS["instrument"], player: str = "auto",
            out_dir: Path | None = None, progress: Callable[[float, str], None] | None = None,
            cancelled: Callable[[], bool] | None = None, gallery: bool = True) -> Composition:
    """Compose one tune and write its files into `out_dir` (a new temporary folder by default).

    key: 'D', 'Gm', 'Ador', 'Bb', 'F#m', ... (tonic A-G, # or b, mode); metre: 'N/D' (D 1-32) or C, C|;
    unit: 1/1-1/32 (the length of a plain note letter); tempo: 20-400 beats per minute (a beat is a dotted
    quarter in 6/8, 9/8, 12/8; a half in 2/2); bars: 1-64 bars for the model to write; temperature 0-2,
    top_k 0-1000 (0 off), top_p 0-1; seed -1 for random; melody: ABC to continue (a whole tune with its own
    header, or bars under the form's header); instrument: one of `midi.INSTRUMENTS`; player: 'auto'
    (FluidSynth when installed), 'fluidsynth' or 'synth'. The tune is kept in the gallery (`gallery=False`:
    not, for measurements), a stopped one too.

    progress(fraction, text) hears of each bar written ("draw 1: bar 5 of 16"; a redraw starts again at 0).
    cancelled() is asked before each character: once it is true the writing ends, and the tune is what was
    finished: the best earlier draw, else this draw cut at its last full bar if that passes the same checks
    (its parameters then say "stopped": true); when nothing passes, `Stopped` is raised.
    """
    name = check_abc_model(model)
    title = re.sub(r"[\s%]+", " ", str(title or "")).strip()[:80] or DEFAULTS["title"]  # % starts a comment
    checked = check_settings(key, metre, unit, tempo, bars, _or(temperature, "temperature"), _or(top_k, "top_k"),
                             _or(top_p, "top_p"), instrument)
    fields, melody_lines, notes = opening(title, checked["key"], checked["metre"], checked["unit"],
                                          checked["tempo"], melody)
    base_seed = resolve_seed(seed)
    net, tok, name, weights = load_text_model(name)
    settings = {k: checked[k] for k in ("temperature", "top_k", "top_p")}
    head = notation.header(fields["T"], fields["M"], fields["L"], fields["K"])
    given = "\n".join(melody_lines)
    prompt = head + "\n" + (given if given else "")
    started = time.perf_counter()
    report = progress or (lambda fraction, text: None)
    stop = cancelled or (lambda: False)
    tempo_head = notation.header(fields["T"], fields["M"], fields["L"], fields["K"], checked["tempo"])
    best = None
    failures: list[str] = []
    stopped_in = 0   # the draw Stop ended (1-based), 0 when none was stopped
    for attempt in range(MAX_ATTEMPTS):
        draw = f"draw {attempt + 1}" + (f" of at most {MAX_ATTEMPTS}" if attempt else "")
        report(0.0, f"{draw}: bar 0 of {checked['bars']}")
        written = [0]

        def on_bar(done: int, draw=draw) -> None:
            written[0] = done
            report(min(done / checked["bars"], 1.0), f"{draw}: bar {done} of {checked['bars']}")

        body, reached = write_melody(net, tok, prompt, given, checked["bars"], attempt_seed(base_seed, attempt),
                                     settings, on_bar=on_bar, cancelled=stop)
        if not reached and stop():
            stopped_in = attempt + 1
            if best is not None or not written[0]:
                break  # an earlier draw is finished (kept below), or this one closed no bar yet
        full_body = given + body  # the model continues the melody's last line (or starts a new one)
        candidate = tempo_head + "\n" + full_body.strip("\n") + "\n"
        report(1.0, f"{draw}: checking the tune")
        try:
            tune = notation.check_tune(candidate)
            svg = score.render_svg(tune.text)  # a tune verovio cannot engrave is drawn again too
        except StudioError as exc:
            failures.append(f"draw {attempt + 1}: {exc}")
            if stopped_in:
                break
            continue
        if best is None or tune.bar_share > best[0].bar_share:
            best = (tune, attempt, reached, svg)
        if tune.bar_share == 1.0 or stopped_in:
            break
    if best is None and stopped_in:
        raise Stopped(f"stopped before a tune was finished (during draw {stopped_in}); nothing was kept")
    if best is None:
        raise StudioError(f"{name} wrote no valid tune in {MAX_ATTEMPTS} draws from seed {base_seed} ("
                          + "; ".join(failures[:2]) + "); try another seed, a lower temperature or another model")
    tune, attempt, reached, svg = best
    if stopped_in and attempt + 1 == stopped_in:
        done = tune.full_length_bars
        notes.append(f"stopped after {done} bar{'s' if done != 1 else ''}: the tune ends at its last "
                     "full bar")
    elif stopped_in:
        notes.append(f"stopped during draw {stopped_in}; draw {attempt + 1}, finished before, is kept")
    if attempt and not (stopped_in and attempt + 1 == stopped_in):
        notes.append(f"draw {attempt + 1} of the seed's series was kept (the earlier ones "
                     f"{'did not parse' if failures else 'filled fewer bars'})")
    if not reached and not stopped_in:
        notes.append("the model ran out of room before writing every bar; the tune ends at its last full bar")
    if tune.bar_share < 1.0:
        notes.append(f"{tune.full_bars} of {tune.bars} bars fill the metre")
    seconds = time.perf_counter() - started
    params = {"model": name, "weights": weights, "title": fields["T"], "key": fields["K"], "metre": fields["M"],
              "unit": fields["L"], "tempo": checked["tempo"], "bars": checked["bars"], **settings,
              "seed": base_seed, "draw": attempt + 1, "draw_seed": attempt_seed(base_seed, attempt),
              "melody": bool(given), "instrument": checked["instrument"], "studio_version": __version__,
              "ai_generated": True}
    if stopped_in:
        params["stopped"] = True
    made = _write_outputs(tune, svg, params, notes, seconds, player, out_dir)
    if gallery:
        files = [made.audio, made.midi.with_suffix(".abc"), made.midi, made.svg]  # the .abc beside the MIDI
        made.gallery_id = save_to_gallery("music", [f for f in files if f.is_file()], made.parameters, model=name,
                                          seed=base_seed, text=made.abc)
    return made


def _or(value, name: str):
    return SETTINGS[name].default if value in (None, "") else value


def _write_outputs(tune: notation.CheckedTune, svg: str, params: dict, notes: list[str], seconds: float,
                   player: str, out_dir: Path | None) -> Composition:
    out = Path(out_dir) if out_dir else new_output_dir("compose")
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", params["title"]).strip("-").lower()[:40] or "tune"
    stem = f"{stem}-{params['seed']}"
    summary = json.dumps(params, sort_keys=True)
    comments = [f"% {AI_NOTICE}", f"% parameters: {summary}"]
    lines = tune.text.rstrip("\n").split("\n")
    abc_text = "\n".join(lines[:1] + comments + lines[1:]) + "\n"  # comments after X:, inside the tune
    abc_path = out / f"{stem}.abc"
    abc_path.write_text(abc_text, encoding="utf-8")
    midi_path = midi.write_midi(tune.score, out / f"{stem}.mid", params["instrument"],
                                [AI_NOTICE, f"parameters: {summary}"])
    performance = midi.performance(tune.score)
    recording = audio.record(performance, midi_path, out / f"{stem}.wav", params["instrument"],
                             {"title": params["title"], "comment": f"{AI_NOTICE}. parameters: {summary}",
                              "software": f"creative studio {__version__}", "artist": params["model"]},
                             player=player)
    svg = svg.replace("<desc>", f"<desc>{AI_NOTICE}; parameters: {_xml(summary)}. ", 1)
    svg_path = out / f"{stem}.svg"
    svg_path.write_text(svg, encoding="utf-8")
    params = {**params, "bars_written": tune.bars, "bars_filled": tune.full_bars, "pickup": tune.pickup,
              "notes": tune.notes,
              "range": [tune.lowest, tune.highest], "seconds_writing": round(seconds, 2),
              "recording_seconds": round(recording.seconds, 2), "player": recording.player}
    return Composition(abc_text, midi_path, recording.path, svg_path, svg, params, notes + recording.notes)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read_melody_file(path: str | Path) -> str:
    """The text of an uploaded .abc (or .txt) file, refusing files that are not text."""
    from ..data.text import decode_text

    path = Path(path)
    if not path.is_file():
        raise StudioError(f"{path.name}: file not found")
    if path.stat().st_size > 1 << 20:
        raise StudioError(f"{path.name} is larger than 1 MB; upload one tune in ABC notation")
    return decode_text(path.read_bytes(), path.name)
