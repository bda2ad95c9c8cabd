"""Which character may come next in an ABC melody: the grammar Compose decodes under.

A character-level model proposes the next character; `MelodyState.allowed()` says which characters keep the
melody well-formed, and Compose masks the rest. The rules are the ones a broken tune breaks most often:
no blank line (it would end the tune) and no header field inside the melody; chords `[...]` and grace notes
`{...}` closed on their line and never nested; an accidental followed by a note letter; `:` only beside a
bar line; no bar longer than `MAX_BAR_CHARS`. The state also counts the bars the melody has closed, so the
writer can stop at the bar count the artist asked for and end the tune with a final bar line.

With a metre and a unit length (`MelodyState.for_tune`), the state also keeps time: it counts the current
bar's length in unit lengths (L:) as notes, rests and chords are written, with their lengths (`2`, `/2`,
`/`, `3/2`, ...; `LENGTHS`), broken rhythm (`A>B` is 3/2 + 1/2, `A<B` 1/2 + 3/2), tuplets (`(3ABC` is three
notes in the time of two) and grace notes (no time). A bar line may then come only when the bar is exactly
full (the first bar may be a shorter pick-up, which the bar count leaves out), and a note or a length that
would overflow the bar is masked, so every bar the model closes fills the metre. music21's ABC reader is no help here: it reads a
finished tune, not a character at a time, so this small clock is written by hand.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from fractions import Fraction

NOTES = set("ABCDEFGabcdefg")
RESTS = set("z")
ACCIDENTALS = set("^_=")
# What Compose lets a model write in a melody (the normalised training tunes use these and little else).
ALPHABET = NOTES | RESTS | ACCIDENTALS | set(",'/23456789|:[]()-{}<>. \n1")
LINE_START = NOTES | RESTS | ACCIDENTALS | set("([{|")
MAX_BAR_CHARS = 48
# Grace notes take no time, so the clock cannot end a group of them: a group closes after this many characters
# (99.9% of the training tunes' groups are shorter; the longest is 10). Without it a model could write inside
# `{...}` until it ran out of room.
MAX_GRACE_CHARS = 8

# The note lengths the grammar lets a model write (with their length in unit lengths): those of 99.8% of the
# training tunes' notes, and 12 and 16 for whole bars. Quarter units (`/4`, `//`, `3/4`: 0.2% of the notes)
# are left out: with them at hand, a model that lost count fills a bar with a splinter (`g3/4 G/4`).
LENGTHS = {"": Fraction(1), "2": Fraction(2), "3": Fraction(3), "4": Fraction(4), "6": Fraction(6),
           "8": Fraction(8), "12": Fraction(12), "16": Fraction(16), "/": Fraction(1, 2), "/2": Fraction(1, 2),
           "3/": Fraction(3, 2), "3/2": Fraction(3, 2)}
PREFIXES = {length[:i] for length in LENGTHS for i in range(len(length) + 1)}
SHORTEST = min(LENGTHS.values())
# A broken rhythm's factors for the note before and the note after it.
BROKEN = {">": (Fraction(3, 2), Fraction(1, 2)), "<": (Fraction(1, 2), Fraction(3, 2))}
DECORATIVE = set(" ()-.{}\n")   # characters that take no time: bounded by MAX_BAR_CHARS when keeping time


def tuplet_factor(count: int, compound: bool) -> Fraction:
    """(p: p notes in the time of q (ABC's rule: q is 3 for 2, 4 and 8; 2 for 3 and 6; for 5, 7 and 9 it is 3
    in compound metres, else 2)."""
    q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(count, 3 if compound else 2)
    return Fraction(q, count)


def bar_units(metre: str, unit: str) -> Fraction | None:
    """A bar's length in unit lengths ('6/8' with '1/8' -> 6; 'C' with '1/16' -> 16); None for no metre."""
    m = re.fullmatch(r"\s*(C\|?|(\d{1,2})/(\d{1,2}))\s*", metre or "")
    u = re.fullmatch(r"\s*1/(\d{1,2})\s*", unit or "")
    if not m or not u:
        return None
    bar = Fraction(1) if m.group(1).startswith("C") else Fraction(int(m.group(2)), int(m.group(3)))
    return bar * int(u.group(1)) if bar > 0 else None


def _header_field(text: str, name: str) -> str | None:
    found = re.findall(rf"^{name}:([^%\n]*)", text, flags=re.MULTILINE)
    return found[0].strip() if found else None


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
    grace_chars: int = 0       # characters written inside the open grace group
    bars: int = 0              # bars closed by a bar line (an opening pick-up is not one of them)
    pickup: bool = False       # the melody opened with a pick-up (a first bar shorter than the metre)
    closed_short: bool = False # the bar line just written closed a bar shorter than the metre
    # Keeping time (only with a bar length, from `for_tune`); lengths in unit lengths.
    capacity: Fraction | None = None   # a full bar
    compound: bool = False             # 6/8, 9/8, 12/8: for tuplets of 5, 7, 9
    used: Fraction = Fraction(0)       # the bar's notes written and finished
    pending: tuple | None = None       # the note being written: (stage, factor, length so far)
    just_finished: Fraction | None = None  # the length of a note finished by the last character
    next_factor: Fraction = Fraction(1)    # the next note's share after a broken rhythm
    owed: bool = False                 # a broken rhythm waits for its second note
    second: bool = False               # the pending (or last) note is a broken rhythm's second
    tuplet_left: int = 0               # notes still to come in a tuplet
    tuplet_share: Fraction = Fraction(1)
    in_quote: bool = False             # "chord symbols" and !decorations! of a typed melody take no time
    in_decoration: bool = False
    fallbacks: int = 0                 # times the clock found no way on and the plain grammar was used

    @classmethod
    def for_tune(cls, text: str) -> "MelodyState":
        """A state that keeps time in the metre (M:) and unit length (L:) of the header in `text` (ABC's
        default unit when there is no L:); without a metre it keeps no time."""
        metre, unit = _header_field(text, "M"), _header_field(text, "L")
        if metre and not unit:
            bar = bar_units(metre, "1/1")
            unit = "1/16" if bar is not None and bar < Fraction(3, 4) else "1/8"
        capacity = bar_units(metre or "", unit or "")
        compound = bool(re.fullmatch(r"(6|9|12)/\d+", (metre or "").strip()))
        return cls(capacity=capacity, compound=compound)

    @property
    def keeps_time(self) -> bool:
        return self.capacity is not None

    @property
    def room(self) -> Fraction:
        return self.capacity - self.used

    def feed(self, text: str) -> "MelodyState":
        for char in text:
            self._one(char)
        return self

    def _one(self, char: str) -> None:
        if self.keeps_time:
            self._time(char)
        if char == "[" and not self.chord_open:
            self.chord_open = True
        elif self.chord_open and self.last == "[" and (char.isdigit() or char == "|"):
            self.chord_open = False  # [1 and [| are an ending and a bar line, not a chord
        elif char == "]":
            self.chord_open = False
        elif char == "{":
            self.grace_open, self.grace_chars = True, 0
        elif self.grace_open and char != "}":
            self.grace_chars += 1
        elif char == "}":
            self.grace_open = False
        self.accidentals = self.accidentals + 1 if char in "^_" else 0
        if char in NOTES or char in RESTS:
            self.notes_in_bar = True
        if char == "|":
            if self.last not in "|[" and self.notes_in_bar:
                if self.keeps_time and self.bars == 0 and not self.pickup and self.closed_short:
                    self.pickup = True  # a pick-up leads into the first bar; the artist's bar count is of full bars
                else:
                    self.bars += 1
                self.notes_in_bar = False
            self.bar_chars = 0
        elif char != "\n":
            self.bar_chars += 1
        self.before_last, self.last = self.last, char

    # -- keeping time ---------------------------------------------------------------------------------------
    def _continues(self, char: str) -> bool:
        """Whether `char` goes on writing the pending note (its octave marks, its length, a chord's notes)."""
        stage, _, length = self.pending
        if stage == "chord":
            return True
        if stage == "note" and char in ",'" :
            return True
        return stage != "chord" and (char.isdigit() or char == "/") and length + char in PREFIXES

    def _finish_note(self) -> Fraction:
        stage, factor, length = self.pending
        value = factor * LENGTHS.get(length, Fraction(1))
        self.used += value
        self.pending = None
        return value

    def _time(self, char: str) -> None:
        if self.in_quote or self.in_decoration:
            self.in_quote &= char != '"'
            self.in_decoration &= char != "!"
            return
        self.just_finished = None
        if self.pending is not None:
            if self._continues(char):
                stage, factor, length = self.pending
                if stage == "chord":
                    self.pending = ("length", factor, "") if char == "]" else self.pending
                elif char not in ",'":
                    self.pending = ("length", factor, length + char)
                return
            self.just_finished = self._finish_note()
        if char == '"':
            self.in_quote = True
        elif char == "!":
            self.in_decoration = True
        elif self.grace_open:
            return  # grace notes take no time
        elif char in BROKEN and self.just_finished is not None:
            before, after = BROKEN[char]
            self.used += self.just_finished * (before - 1)
            self.next_factor, self.owed = after, True
        elif char in NOTES or char in RESTS or char in "xX":
            factor = self.next_factor
            if self.tuplet_left:
                factor *= self.tuplet_share
                self.tuplet_left -= 1
            self.second = self.owed
            self.next_factor, self.owed = Fraction(1), False
            self.pending = ("chord" if self.chord_open else ("note" if char in NOTES else "rest"), factor, "")
        elif char.isdigit() and self.last == "(":
            self.tuplet_left, self.tuplet_share = int(char), tuplet_factor(int(char), self.compound)
        elif char == "|":
            self.closed_short = 0 < self.used < self.capacity
            self.used, self.tuplet_left, self.next_factor, self.owed = Fraction(0), 0, Fraction(1), False

    def _fits_later(self) -> bool:
        """Whether the bar can still be filled exactly from here: the pending note has a length that fits,
        with room left for a tuplet's notes still to come or a broken rhythm's second note; and once nothing
        is owed, what is left of the bar can be made of the lengths there are (a multiple of `SHORTEST`)."""
        if self.used > self.capacity:
            return False
        owed = Fraction(0)
        if self.tuplet_left:
            owed = self.tuplet_left * self.tuplet_share * SHORTEST * self.next_factor
        elif self.owed:
            owed = self.next_factor * SHORTEST
        if self.pending is None:
            if self.owed and not self.tuplet_left:  # the second note of a broken rhythm must land on the grid
                return any(self.used + self.next_factor * value <= self.capacity and
                           (self.room - self.next_factor * value) % SHORTEST == 0 for value in LENGTHS.values())
            return self.used + owed <= self.capacity and bool(owed or (self.room % SHORTEST == 0))
        _, factor, length = self.pending
        for written, value in LENGTHS.items():
            if written.startswith(length):
                used = self.used + factor * value
                if used + owed <= self.capacity and (owed or (self.capacity - used) % SHORTEST == 0):
                    return True
        return False

    def _with_note(self) -> "MelodyState":
        """This state with a note of the next note's length begun (to ask whether one may begin)."""
        state = copy.copy(self)
        state._time("c")
        return state

    def _bar_may_close(self) -> bool:
        """A bar line may come: the bar is full (or overfull, from a typed melody), or it is the opening
        pick-up; and no tuplet or broken rhythm waits for notes."""
        if self.tuplet_left or self.owed:
            return False
        opening = self.bars == 0 and not self.pickup
        return self.used >= self.capacity or (opening and self.used > 0 and self.used % SHORTEST == 0)

    def _keeps_time_with(self, char: str) -> bool:
        """Whether writing `char` now keeps the bar able to fill its metre exactly."""
        if self.in_quote or self.in_decoration or (self.grace_open and char != "}"):
            return True
        if self.chord_open and self.pending is None and char not in NOTES | ACCIDENTALS:
            if self.last != "[" or char not in "|12":
                return False
            if char == "|":  # [| closes the bar (after a bar line, it is part of one)
                return self.before_last in "|:" or self._bar_may_close()
            return self.before_last in "|:"  # [1 and [2 are endings, after a bar line
        if self.pending is not None and self.pending[0] == "chord" and char not in NOTES | ACCIDENTALS | set(",']"):
            return False  # a chord holds notes (their lengths are the chord's, after its ])
        if self.pending is not None and self._continues(char):
            after = copy.copy(self)
            after._time(char)  # a chord's note, an octave mark or the note's length: it must still fit
            return after._fits_later()
        # `char` starts something new: the pending note (if any) ends here, at the length written so far.
        now = copy.copy(self)
        if now.pending is not None:
            if now.pending[0] == "chord" or now.pending[2] not in LENGTHS:
                return False
            now._finish_note()
            if now.used > now.capacity:
                return False  # the note overflows the bar
            if char not in "|:" and not now._fits_later():
                return False  # ended at this length, it leaves no room for the notes a tuplet still owes
        settled = not (now.tuplet_left or now.owed)
        if self.last.isdigit() and self.before_last == "(" and self.pending is None:
            if char not in NOTES | RESTS | ACCIDENTALS | set("[.{"):
                return False  # a tuplet's notes follow its number
        if char in "|:":
            if char == "|" and self.last in "|:" or char == ":" and self.last in "|:":
                return True  # the rest of a bar line (||, :|, |:, ::)
            if self.last == "[" and self.before_last not in "|:":
                return now._bar_may_close()  # [| closes the bar
            return now._bar_may_close() or (settled and now.used == 0)  # an opening |: closes nothing
        if now.used > now.capacity:
            return False  # a typed melody's bar is already too long: only a bar line may come
        if char in BROKEN:
            if self.pending is None or self.second:
                return False  # a broken rhythm follows a note straight away, and is not chained (A>B>C)
            after = copy.copy(self)
            after._time(char)
            return after._fits_later()
        if settled and now.room % SHORTEST:
            return False  # the bar could no longer be filled with the lengths there are
        if char.isdigit() or char in "/,'":
            if self.last == "(" and char.isdigit() and char != "1":  # a tuplet
                after = copy.copy(self)
                after._time(char)
                return after._fits_later() and after._with_note()._fits_later()
            # an ending (|1, [2); a length or an octave mark belongs to a note
            return char in "12" and (self.last == "|" or self.last == "[" and self.before_last in "|:")
        if char in NOTES or char in RESTS:
            after = copy.copy(self)
            after._time(char)
            return after._fits_later()
        if char == "[":
            return self.last in "|:" or now._with_note()._fits_later() or now._bar_may_close()
        if char in ACCIDENTALS or char in "{(.":
            return now._with_note()._fits_later()
        if char == "\n":
            return settled
        return True

    def allowed(self) -> set[str]:
        """The characters that may come next."""
        allowed = self._syntax()
        if self.grace_open and self.grace_chars >= MAX_GRACE_CHARS and "}" in allowed:
            return {"}"}
        if not self.keeps_time:
            return allowed
        timed = {c for c in allowed if self._keeps_time_with(c)}
        if self.bar_chars >= MAX_BAR_CHARS and timed - DECORATIVE:
            timed -= DECORATIVE
        if not timed:
            self.fallbacks += 1
        return timed or allowed  # never nothing: a tune that goes wrong is checked and drawn again

    def _syntax(self) -> set[str]:
        if self.last in ACCIDENTALS:
            more = {"^"} if self.last == "^" and self.accidentals < 2 else (
                {"_"} if self.last == "_" and self.accidentals < 2 else set())
            return NOTES | more
        if self.last == ":" and self.before_last != "|":
            # :| ends a repeat (and :|: starts the next). "::" is left out: the clock counts bars at "|", so
            # it would have to be followed by one, and music21 misreads "::|".
            return {"|"}
        if self.bar_chars >= MAX_BAR_CHARS and not (self.chord_open or self.grace_open) and not self.keeps_time:
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
            if self.last == "|" and self.before_last != "[":
                allowed.add("]")  # |] ends the tune; [|] would read as a chord
        if self.grace_open:  # grace notes: notes with accidentals and octave marks, as in the training tunes
            allowed &= NOTES | ACCIDENTALS | set(",'/}")
            if self.last == "{":
                allowed -= set(",'}")  # {/g} is an acciaccatura; a group holds a note
        else:
            allowed -= {"}"}
        if self.last not in "|[" and "1" in allowed and self.last not in NOTES | set(",'/0123456789"):
            allowed.discard("1")  # 1 is a length after a note, or an ending after | or [
        if self.last not in NOTES | set(",'/23456789]") :
            allowed.discard("-")  # a tie follows a note
        if self.last not in "|:" and self.last not in NOTES | RESTS | set(",'/23456789]) "):
            allowed.discard(":")
        if self.last == ":":
            allowed.discard(":")  # |: opens a repeat; no "::" after it either
        return allowed
