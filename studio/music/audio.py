"""A recording of a tune as a WAV file browsers play, with the parameters in its RIFF INFO tags.

With FluidSynth installed (the `fluidsynth` program, e.g. `apt-get install fluidsynth fluid-soundfont-gm`)
and a General MIDI SoundFont (STUDIO_SOUNDFONT, or the Debian ones under /usr/share/sounds/sf2), the MIDI
file is played through it. Otherwise a small synthesiser written here plays the notes, so the pip-only
install still sounds: no package on PyPI synthesises General MIDI without a system library or a SoundFont,
and a few lines of numpy give each instrument a recognisable colour (harmonics, attack and decay, vibrato
for bowed and blown sounds). The recording says which player made it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import StudioError
from .midi import Performance

SAMPLE_RATE = 22050
MIN_SECONDS = 5.0
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")

# The built-in synthesiser's voices: relative harmonic amplitudes, attack and release (s), decay rate
# (1/s; 0 holds the note), vibrato depth (fraction of the pitch).
VOICES = {
    "piano": {"harmonics": (1, 0.5, 0.25, 0.12, 0.06), "attack": 0.005, "release": 0.08, "decay": 2.5,
              "vibrato": 0.0},
    "harp": {"harmonics": (1, 0.3, 0.1, 0.05), "attack": 0.003, "release": 0.3, "decay": 3.5, "vibrato": 0.0},
    "guitar": {"harmonics": (1, 0.6, 0.3, 0.2, 0.1), "attack": 0.003, "release": 0.1, "decay": 3.0,
               "vibrato": 0.0},
    "violin": {"harmonics": (1, 0.8, 0.6, 0.45, 0.3, 0.2, 0.12), "attack": 0.04, "release": 0.06, "decay": 0.0,
               "vibrato": 0.004},
    "flute": {"harmonics": (1, 0.2, 0.05), "attack": 0.05, "release": 0.05, "decay": 0.0, "vibrato": 0.003},
    "whistle": {"harmonics": (1, 0.1, 0.03), "attack": 0.02, "release": 0.04, "decay": 0.0, "vibrato": 0.002},
    "accordion": {"harmonics": (1, 0.7, 0.5, 0.4, 0.3, 0.2), "attack": 0.02, "release": 0.05, "decay": 0.0,
                  "vibrato": 0.0},
    "clarinet": {"harmonics": (1, 0.05, 0.5, 0.05, 0.3, 0.03, 0.15), "attack": 0.03, "release": 0.05,
                 "decay": 0.0, "vibrato": 0.001},
}


@dataclass
class Recording:
    path: Path
    seconds: float
    player: str       # "FluidSynth (<soundfont>)" or "built-in synthesiser"
    notes: list[str]  # what the listener should know (a missing SoundFont, a short tune played twice)


def find_soundfont() -> tuple[Path | None, str]:
    """(the SoundFont FluidSynth should use, or None; a note when one was asked for and is missing)."""
    wanted = os.environ.get("STUDIO_SOUNDFONT", "").strip()
    if wanted:
        if Path(wanted).is_file():
            return Path(wanted), ""
        return None, f"the SoundFont {wanted} (STUDIO_SOUNDFONT) is missing"
    for candidate in SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate), ""
    return None, "no General MIDI SoundFont is installed"


def record(performance: Performance, midi_path: Path, out: Path, instrument: str, tags: dict[str, str],
           player: str = "auto") -> Recording:
    """Write a WAV of the tune to `out`: FluidSynth when it and a SoundFont are installed (player "auto" or
    "fluidsynth"), else the built-in synthesiser (player "synth"); at least MIN_SECONDS long (a short tune
    plays again). `tags` become RIFF INFO fields (title, comment, software, ...)."""
    if player not in ("auto", "fluidsynth", "synth"):
        raise StudioError(f"player must be 'auto', 'fluidsynth' or 'synth'; got {player!r}")
    notes: list[str] = []
    audio, used = None, "built-in synthesiser"
    if player != "synth":
        program = shutil.which("fluidsynth")
        soundfont, why = find_soundfont()
        if program and soundfont:
            audio = _fluidsynth(program, soundfont, midi_path)
            used = f"FluidSynth ({soundfont.name})"
        else:
            reason = why if program else "FluidSynth is not installed"
            notes.append(f"{reason}; the built-in synthesiser played the tune instead")
    if audio is None:
        audio = synthesize(performance, instrument)
    audio, repeats = _at_least(audio, MIN_SECONDS)
    if repeats > 1:
        notes.append(f"the tune lasts under {MIN_SECONDS:g} s, so the recording plays it {repeats} times")
    write_wav(out, audio, {**tags, "software": f"{tags.get('software', 'studio')}; {used}"})
    return Recording(out, len(audio) / SAMPLE_RATE, used, notes)


def _fluidsynth(program: str, soundfont: Path, midi_path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [program, "-ni", "-q", "-g", "0.8", "-r", str(SAMPLE_RATE), "-F", str(wav), str(soundfont),
               str(midi_path)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        except (subprocess.SubprocessError, OSError) as exc:
            raise StudioError(f"FluidSynth failed to play the tune: {exc}") from None
        return _mono(read_wav(wav)[0])


def _mono(audio: np.ndarray) -> np.ndarray:
    audio = audio.mean(axis=1) if audio.ndim == 2 else audio
    return audio.astype(np.float32)


def _at_least(audio: np.ndarray, seconds: float) -> tuple[np.ndarray, int]:
    repeats = max(1, int(np.ceil(seconds * SAMPLE_RATE / max(1, len(audio)))))
    return (np.tile(audio, repeats) if repeats > 1 else audio), repeats


def synthesize(performance: Performance, instrument: str) -> np.ndarray:
    """The notes as float32 audio at SAMPLE_RATE, in the instrument's voice (additive synthesis)."""
    voice = VOICES.get(instrument, VOICES["piano"])
    total = int((performance.seconds + voice["release"] + 0.3) * SAMPLE_RATE)
    out = np.zeros(total, dtype=np.float64)
    harmonics = np.asarray(voice["harmonics"], dtype=np.float64)
    for start, length, pitch, velocity in performance.notes:
        held = length + voice["release"]
        n = int(held * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        phase = 2 * np.pi * freq * t
        if voice["vibrato"]:
            # Vibrato (5.5 Hz) growing in over the first 0.3 s, as players do on held notes.
            depth = voice["vibrato"] * np.minimum(1.0, t / 0.3)
            phase += 2 * np.pi * freq * depth * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5)
        partials = np.arange(1, len(harmonics) + 1)
        keep = partials * freq < SAMPLE_RATE / 2  # no harmonics above Nyquist (no aliasing)
        wave = (harmonics[keep, None] * np.sin(partials[keep, None] * phase[None, :])).sum(axis=0)
        envelope = np.minimum(1.0, t / voice["attack"])
        if voice["decay"]:
            envelope *= np.exp(-voice["decay"] * t)
        envelope *= np.clip((held - t) / voice["release"], 0.0, 1.0)
        i = int(start * SAMPLE_RATE)
        out[i:i + n] += (velocity / 127) * wave[:total - i] * envelope[:total - i] / harmonics.sum()
    peak = np.abs(out).max()
    return (out / peak * 0.8 if peak > 0 else out).astype(np.float32)


# -- WAV files with tags ----------------------------------------------------------------------------------
def write_wav(path: Path, audio: np.ndarray, tags: dict[str, str]) -> Path:
    """16-bit PCM WAV with RIFF INFO tags (soundfile writes them: title, comment, software, artist, date,
    copyright, ...)."""
    import soundfile

    with soundfile.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16",
                             format="WAV") as f:
        for key, value in tags.items():
            setattr(f, key, str(value))
        f.write(audio)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """(audio, tags) of a WAV file."""
    import soundfile

    with soundfile.SoundFile(str(path)) as f:
        return f.read(dtype="float32"), {k: v for k, v in f.copy_metadata().items()}
