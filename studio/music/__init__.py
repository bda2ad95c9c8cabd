"""Music from ABC notation: checking a tune (music21), and turning it into a score (verovio SVG), a MIDI file
and a recording (FluidSynth with a General MIDI SoundFont, or the built-in synthesiser). No model code."""
