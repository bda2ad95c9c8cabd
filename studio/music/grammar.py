"""Which character may come next in an ABC melody: the grammar Compose decodes under.

A character-level model proposes the next character; `MelodyState.allowed()` says which characters keep the
melody well-formed, and Compose masks the rest. The rules are the ones a broken tune breaks most often:
no blank line (it would end the tune) and no header field inside the melody; chords `[...]` and grace notes
`{...}` closed on their line and never nested; an accidental followed by a note letter; `:` only beside a
bar line; no bar longer than `MAX_BAR_CHARS`. The state also counts the bars the melody has closed, so the
writer can stop at the bar count the artist asked for and end the tune with a final bar line.
"""
from __future__ import annotations

from dataclasses import dataclass

NOTES = set("ABCDEFGabcdefg")
RESTS = set("z")
ACCIDENTALS = set("^_=")
# What Compose lets a model write in a melody (the normalised training tunes use these and little else).
ALPHABET = NOTES | RESTS | ACCIDENTALS | set(",'/23456789|:[]()-{}<>. \n1")
LINE_START = NOTES | RESTS | ACCIDENTALS | set("([{|")
MAX_BAR_CHARS = 48


@dataclass
class MelodyState:
    """Where a melody stands after the characters fed so far."""
    last: str = "\n"
    before_last: str = "\n"
    chord_open: bool = False   # inside [...]
    grace_open: bool = False   # inside {...}
    accidentals: int = 0       # accidental signs just written (^^ at most)
    notes_in_bar: bool = False
    bar_chars: int = 0
    bars: int = 0              # bars closed by a bar line

    def feed(self, text: str) -> "MelodyState":
        for char in text:
            self._one(char)
        return self

    def _one(self, char: str) -> None:
        if char == "[" and not self.chord_open:
            self.chord_open = True
        elif self.chord_open and self.last == "[" and (char.isdigit() or char == "|"):
            self.chord_open = False  # [1 and [| are an ending and a bar line, not a chord
        elif char == "]":
            self.chord_open = False
        elif char == "{":
            self.grace_open = True
        elif char == "}":
            self.grace_open = False
        self.accidentals = self.accidentals + 1 if char in "^_" else 0
        if char in NOTES or char in RESTS:
            self.notes_in_bar = True
        if char == "|":
            if self.last not in "|[" and self.notes_in_bar:
                self.bars += 1
                self.notes_in_bar = False
            self.bar_chars = 0
        elif char != "\n":
            self.bar_chars += 1
        self.before_last, self.last = self.last, char

    def allowed(self) -> set[str]:
        """The characters that may come next."""
        if self.last in ACCIDENTALS:
            more = {"^"} if self.last == "^" and self.accidentals < 2 else (
                {"_"} if self.last == "_" and self.accidentals < 2 else set())
            return NOTES | more
        if self.last == ":" and self.before_last == ":":
            return {"|"}
        if self.last == ":" and self.before_last != "|":
            return {"|", ":"}
        if self.bar_chars >= MAX_BAR_CHARS and not (self.chord_open or self.grace_open):
            return {"|"} if self.notes_in_bar else NOTES | RESTS
        allowed = set(LINE_START) if self.last == "\n" else set(ALPHABET)
        if self.last == "\n" or self.chord_open or self.grace_open:
            allowed -= {"\n"}
        if self.chord_open:
            allowed -= {"[", "{", "|", ":", "(", ")", "}"}
            if self.last == "[":
                allowed |= {"1", "2", "|"}
        else:
            allowed -= {"]"}
            if self.last == "|":
                allowed.add("]")
        if self.grace_open:
            allowed -= {"{", "[", "|", ":", "(", ")", "-"}
        else:
            allowed -= {"}"}
        if self.last not in "|[" and "1" in allowed and self.last not in NOTES | set(",'/0123456789"):
            allowed.discard("1")  # 1 is a length after a note, or an ending after | or [
        if self.last not in NOTES | set(",'/23456789]") :
            allowed.discard("-")  # a tie follows a note
        if self.last not in "|:" and self.last not in NOTES | RESTS | set(",'/23456789]) "):
            allowed.discard(":")
        return allowed
