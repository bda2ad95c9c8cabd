"""Small GPT-2 language models trained from scratch on the user's writing, and sampling from any causal LM.

The network is transformers' `GPT2LMHeadModel` built from a config (no pretrained weights), sized from
"tiny" (2 layers, 64 wide, ~0.1 M parameters) to "large" (8 layers, 320 wide, ~10 M). Its tokenizer
(character-level or a byte-level BPE trained on the corpus, see `studio/text_data.py`) is saved beside it
in the transformers `save_pretrained` layout (config.json, model.safetensors, tokenizer.json), so a
studio text model is also a Hub repository that `AutoModelForCausalLM` loads.

Training follows nanoGPT: random windows of `context + 1` tokens from the training split, next-token
cross-entropy, AdamW with linear warm-up then cosine decay to a tenth of the peak learning rate, gradient
clipping at 1. Validation loss is measured on fixed, evenly spaced windows of the held-out split, so every
evaluation scores the same text.

Sampling (`generate_tokens`) is written step by step rather than with `model.generate` because the studio
needs three things `generate` does not give together: a different seed per variation in one batch (so
variation i is reproducible from seed + i), streaming that stops the moment the consumer stops reading,
and a sliding context window so a model with a 256-token context can write past 256 tokens (as nanoGPT's
`generate` does). The logits processors themselves are transformers' own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ..core.errors import StudioError
from ..core.seeds import generator
from .base import Family, LoadedModel, Setting, Trainer
from .checks import (
    check_values,
    choice,
    expected_shapes,
    number,
    read_json_file,
    text,
    whole,
)

SIZES = {  # name: (layers, heads, width)
    "tiny": (2, 2, 64),
    "small": (4, 4, 128),
    "medium": (6, 6, 192),
    "large": (8, 8, 320),
}
# A text model is built from its transformers config.json, so that file's sizes are bounded, and only
# architectures of the kind the studio makes or merges into (decoder-only transformers) are read.
ARCHITECTURES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "olmo2", "smollm3")
TRANSFORMERS_BOUNDS = {
    "model_type": choice(*ARCHITECTURES),
    **{k: whole(1, 262_144, optional=True) for k in ("vocab_size",)},
    **{k: whole(1, 32_768, optional=True) for k in ("n_positions", "max_position_embeddings", "n_ctx")},
    **{k: whole(1, 8192, optional=True) for k in ("n_embd", "hidden_size")},
    **{k: whole(1, 64, optional=True) for k in ("n_layer", "num_hidden_layers")},
    **{k: whole(1, 128, optional=True) for k in ("n_head", "num_attention_heads", "num_key_value_heads")},
    **{k: whole(1, 32_768, optional=True) for k in ("n_inner", "intermediate_size")},
    "head_dim": whole(1, 1024, optional=True),
}
MAX_TOKENIZER_BYTES = 64 << 20
PREVIEW_PROMPT = "\n"
PREVIEW_TOKENS = 240


@dataclass
class TextModel:
    """A causal language model and its tokenizer: what a text trainer exports and a text family saves."""
    model: torch.nn.Module
    tokenizer: object


def text_config(size: str, vocab_size: int, context: int, dropout: float = 0.0) -> dict:
    """The studio's config dict for a GPT-2 of a named size; `context` is the longest window in tokens."""
    if size not in SIZES:
        raise StudioError(f"model size must be one of {', '.join(SIZES)}; got {size!r}")
    layers, heads, width = SIZES[size]
    return {"size": size, "vocab_size": int(vocab_size), "n_positions": int(context), "n_layer": layers,
            "n_head": heads, "n_embd": width, "dropout": float(dropout)}


def check_tokenizer_files(folder: Path) -> None:
    """Tokenizer files are parsed into memory whole: refuse ones far larger than any real vocabulary's."""
    for path in folder.glob("*"):
        if path.is_file() and path.name.startswith(("tokenizer", "vocab", "merges", "special_tokens")) \
                and path.stat().st_size > MAX_TOKENIZER_BYTES:
            raise StudioError(f"{path.name} is larger than {MAX_TOKENIZER_BYTES >> 20} MB; a tokenizer is a few MB")


def check_transformers_config(config: dict) -> dict:
    """A transformers config.json of a supported architecture with every size within TRANSFORMERS_BOUNDS;
    its other keys must be short plain values."""
    check_values(config, TRANSFORMERS_BOUNDS, "config.json", ignore=lambda key: True)
    if config.get("trust_remote_code") or config.get("auto_map"):
        raise StudioError("config.json asks to run the model's own code; the studio never does")
    return config


def build_gpt2(config: dict):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=config["vocab_size"], n_positions=config["n_positions"],
                     n_embd=config["n_embd"], n_layer=config["n_layer"], n_head=config["n_head"],
                     resid_pdrop=config.get("dropout", 0.0), embd_pdrop=config.get("dropout", 0.0),
                     attn_pdrop=config.get("dropout", 0.0), bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(cfg)


# Keys transformers adds to a tokenizer's init arguments when it loads one from a folder: they describe
# that load on that machine, not the tokenizer, and would otherwise be written into tokenizer_config.json.
_LOAD_FLAGS = ("is_local", "local_files_only", "name_or_path", "trust_remote_code", "cache_dir")


def save_tokenizer(tokenizer, folder: Path, context: int) -> None:
    """`save_pretrained` the tokenizer knowing the model's context (`model_max_length`), so transformers
    warns or truncates at the model's limit, and without the flags of the load it came from."""
    tokenizer.model_max_length = int(context)
    for key in _LOAD_FLAGS:
        tokenizer.init_kwargs.pop(key, None)
    tokenizer.save_pretrained(str(folder))


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def context_length(model) -> int:
    """The longest window of tokens the model reads (GPT-2: n_positions; Llama: max_position_embeddings)."""
    cfg = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


# -- sampling -------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_tokens(model, prompt_ids: list[int], *, seeds: list[int], max_new_tokens: int,
                    temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0,
                    repetition_penalty: float = 1.0, eos_id: int | None = None,
                    context: int | None = None, suppress_ids: tuple[int, ...] = (),
                    processors: tuple = ()) -> Iterator[torch.Tensor]:
    """Sample `len(seeds)` continuations of one prompt, yielding each step's new token ids (count,) on CPU.

    temperature 0 (or top_p 0) is greedy decoding; top_k 0 and top_p 1 switch those filters off;
    repetition_penalty 1 is none (CTRL-style, > 1 discourages repeats). Row i draws from its own generator
    seeded with seeds[i]. A row that emits `eos_id` is finished; the stream ends when every row is.
    When prompt + output outgrow `context`, the model reads only the last `context` tokens. Tokens in
    `suppress_ids` (such as `<unk>`, which decodes to nothing) are never drawn. `processors` are extra
    transformers logits processors applied first (a grammar that masks tokens, as Compose's ABC grammar).
    """
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        SuppressTokensLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    if not prompt_ids:
        raise StudioError("the prompt is empty after tokenising; write at least one character")
    device = next(model.parameters()).device
    context = context or context_length(model)
    count = len(seeds)
    ids = torch.tensor([prompt_ids] * count, dtype=torch.long, device=device)
    greedy = temperature <= 0 or top_p <= 0
    processors = LogitsProcessorList(processors)
    if suppress_ids:
        processors.append(SuppressTokensLogitsProcessor(list(suppress_ids), device=device))
    if repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
    if not greedy:
        processors.append(TemperatureLogitsWarper(temperature))
        if top_k > 0:
            processors.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p))
    generators = [generator(s) for s in seeds]
    finished = torch.zeros(count, dtype=torch.bool)
    past, cached = None, 0
    for _ in range(max_new_tokens):
        if past is None or cached + 1 > context:
            window = ids[:, -context:]
            out = model(input_ids=window, use_cache=True)
            cached = window.shape[1]
        else:
            out = model(input_ids=ids[:, -1:], past_key_values=past, use_cache=True)
            cached += 1
        past = out.past_key_values
        scores = processors(ids, out.logits[:, -1, :].float())
        if greedy:
            new = scores.argmax(dim=-1).cpu()
        else:
            probs = torch.softmax(scores, dim=-1).cpu()
            new = torch.stack([torch.multinomial(probs[i], 1, generator=generators[i])[0] for i in range(count)])
        if eos_id is not None:
            new = torch.where(finished, torch.full_like(new, eos_id), new)
            finished |= new == eos_id
        ids = torch.cat([ids, new.to(device)[:, None]], dim=1)
        yield new
        if eos_id is not None and bool(finished.all()):
            return


def sample_texts(model, tokenizer, prompt: str, seeds: list[int], max_new_tokens: int,
                 **settings) -> list[str]:
    """Whole texts (prompt + continuation) for each seed; a convenience over `generate_tokens`."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    rows = [[] for _ in seeds]
    for new in generate_tokens(model, prompt_ids, seeds=seeds, max_new_tokens=max_new_tokens,
                               eos_id=tokenizer.eos_token_id, suppress_ids=unknown_ids(tokenizer), **settings):
        for row, token in zip(rows, new.tolist()):
            row.append(token)
    return [prompt + tokenizer.decode(_until(row, tokenizer.eos_token_id), skip_special_tokens=True)
            for row in rows]


def unknown_ids(tokenizer) -> tuple[int, ...]:
    """The `<unk>` id when it is not also the end-of-text id: it stands for no character, so never draw it."""
    unk = tokenizer.unk_token_id
    return (unk,) if unk is not None and unk != tokenizer.eos_token_id else ()


def _until(row: list[int], eos: int | None) -> list[int]:
    return row[:row.index(eos)] if eos is not None and eos in row else row


# -- training -------------------------------------------------------------------------------------------
def learning_rate(step: int, recipe: dict) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to lr/10 at the last step (nanoGPT)."""
    peak, total, warm = float(recipe["learning_rate"]), int(recipe["steps"]), int(recipe["warmup_steps"])
    if step < warm:
        return peak * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return peak / 10 + 0.5 * (1 + math.cos(math.pi * progress)) * (peak - peak / 10)


def validation_windows(ids: torch.Tensor, context: int, count: int) -> torch.Tensor:
    """`count` evenly spaced windows (count, context + 1) over `ids`, the same ones at every evaluation."""
    if ids.numel() < context + 1:
        raise StudioError(f"the validation text has {ids.numel()} tokens, fewer than the context + 1 "
                          f"({context + 1}); give more text or a shorter context")
    starts = torch.linspace(0, ids.numel() - context - 1, steps=min(count, ids.numel() - context)).long()
    return torch.stack([ids[s:s + context + 1] for s in starts.tolist()])


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) over validation windows (N, context + 1)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, n = 0.0, 0
    for i in range(0, windows.shape[0], batch_size):
        w = windows[i:i + batch_size].to(device)
        logits = model(input_ids=w[:, :-1]).logits.float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                                 reduction="sum").item()
        n += w[:, 1:].numel()
    model.train(was_training)
    return total / n


class TextTrainer(Trainer):
    unit = "tokens"

    def __init__(self, config: dict, recipe: dict, accelerator, job_dir: Path):
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        self.recipe, self.accelerator = recipe, accelerator
        self.tokenizer = AutoTokenizer.from_pretrained(str(job_dir / "tokenizer"))
        self.context = int(recipe["context"])
        val = load_file(str(job_dir / "data.safetensors"))["val"]
        self.val_windows = validation_windows(val, self.context, int(recipe["eval_windows"]))
        model = self.build_model(config)
        # Weight decay on matrices only, not on biases and norms (nanoGPT); frozen weights are not optimised.
        trainable = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in trainable if p.dim() >= 2]
        no_decay = [p for p in trainable if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(recipe["weight_decay"])},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=float(recipe["learning_rate"]), betas=(0.9, float(recipe["beta2"])))
        self.model, self.opt = accelerator.prepare(model, opt)
        self.last_eval: dict[str, float] = {}

    def build_model(self, config: dict) -> torch.nn.Module:
        return build_gpt2(config)

    def items_in(self, batch: torch.Tensor) -> int:
        return batch.shape[0] * (batch.shape[1] - 1)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(step, self.recipe)
        self.model.train()
        logits = self.model(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.accelerator.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.opt.step()
        every = int(self.recipe["eval_every"])
        if (step + 1) % every == 0 or step + 1 == int(self.recipe["steps"]) or not self.last_eval:
            val = evaluate(self.export().model, self.val_windows)
            self.last_eval = {"val_loss": val, "perplexity": math.exp(min(val, 50.0))}
        # The latest validation numbers ride along on every row, so any logged step shows them.
        return {"loss": loss.item(), **self.last_eval}

    def final_metrics(self) -> dict:
        """For the model card: validation loss (nats per token) and perplexity of the finished model."""
        val = evaluate(self.export().model, self.val_windows)
        return {"validation_loss": round(val, 4), "perplexity": round(math.exp(min(val, 50.0)), 3),
                "validation_windows": f"{self.val_windows.shape[0]} x {self.context} tokens"}

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> str:
        model = self.export().model
        was_training = model.training
        model.eval()
        length = min(PREVIEW_TOKENS, 4 * self.context)  # short previews for tiny test models
        texts = sample_texts(model, self.tokenizer, PREVIEW_PROMPT, seeds[:4], length, temperature=0.8, top_k=0,
                             top_p=0.95)
        model.train(was_training)
        return "\n\n----------\n\n".join(t.strip("\n") for t in texts) + "\n"

    def modules(self):
        return {"model": self.model}

    def optimizers(self):
        return {"optimizer": self.opt}

    def export(self) -> TextModel:
        return TextModel(self.accelerator.unwrap_model(self.model), self.tokenizer)


class TextFamily(Family):
    name = "text"
    kind = "text"
    title = "GPT-2 language model (trained from scratch)"
    library_name = "transformers"
    pipeline_tag = "text-generation"
    settings = (
        Setting("temperature", 0.8, 0.0, 2.0, help="0 is greedy (always the likeliest token); higher is wilder"),
        Setting("top_k", 0, 0, 1000, help="sample among the k likeliest tokens; 0 is off"),
        Setting("top_p", 0.95, 0.0, 1.0, help="sample among the likeliest tokens holding this much probability"),
        Setting("repetition_penalty", 1.0, 1.0, 2.0, help="above 1 discourages repeating tokens"),
    )

    def default_recipe(self) -> dict:
        # The shipped recipe: nanoGPT's CPU model with a 4x higher peak learning rate and a shorter
        # schedule, which reaches nanoGPT's loss in about half the time on a 2-core CPU (benchmarks/text.py).
        return {"steps": 1050, "batch_size": 16, "context": 64, "learning_rate": 4e-3, "warmup_steps": 50,
                "weight_decay": 0.1, "beta2": 0.99, "eval_every": 100, "eval_windows": 200, "seed": 0,
                "size": "small", "tokenizer": "char", "vocab_size": 2048, "val_fraction": 0.1, "dropout": 0.0}

    # studio.json's config: what training wrote (all of it), or, for a merged LoRA adapter, where it came from.
    config_bounds = {
        "size": choice(*SIZES, optional=True), "vocab_size": whole(1, 262_144, optional=True),
        "n_positions": whole(1, 32_768, optional=True), "n_layer": whole(1, 64, optional=True),
        "n_head": whole(1, 128, optional=True), "n_embd": whole(1, 8192, optional=True),
        "dropout": number(0, 1, optional=True), "merged_from": text(64, optional=True),
        "base_model": text(256, optional=True),
    }

    def build(self, config: dict):
        return build_gpt2(config)

    def expected_weights(self, folder: Path, config: dict):
        """The network as its own config.json describes it (that is what `load` builds), after bounding it."""
        from transformers import AutoConfig, AutoModelForCausalLM

        check_transformers_config(read_json_file(folder / "config.json"))
        check_tokenizer_files(folder)
        try:
            hf_config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StudioError(f"config.json does not describe a language model ({str(exc).splitlines()[0]})") from None
        return {"model.safetensors": expected_shapes(lambda: AutoModelForCausalLM.from_config(hf_config))}

    def check_stored(self, folder: Path, meta: dict) -> None:
        from .pretrained import check_model_reference

        super().check_stored(folder, meta)
        if meta["config"].get("base_model") is not None:
            check_model_reference(meta["config"]["base_model"])

    def save(self, module: TextModel, folder: Path) -> None:
        module.model.save_pretrained(str(folder), safe_serialization=True)
        save_tokenizer(module.tokenizer, folder, context_length(module.model))

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        from .pretrained import load_causal_lm_folder

        model, tokenizer = load_causal_lm_folder(folder, device)
        return LoadedModel(name=meta.get("name", folder.name), family=self, meta=meta, module=model,
                           device=device, extras={"tokenizer": tokenizer})

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir: Path) -> TextTrainer:
        return TextTrainer(config, recipe, accelerator, job_dir)

    def loader(self, data: dict[str, torch.Tensor], recipe: dict, seed: int):
        """Batches (batch_size, context + 1) of token windows at random offsets in the training split."""
        from torch.utils.data import DataLoader, Dataset

        ids, span = data["train"], int(recipe["context"]) + 1
        if ids.numel() < span + 1:
            raise StudioError(f"the training text has {ids.numel()} tokens, fewer than the context + 1 "
                              f"({span}); give more text or a shorter context")

        class Windows(Dataset):
            def __len__(self):
                return ids.numel() - span + 1

            def __getitem__(self, i):
                return ids[i:i + span]

        g = torch.Generator().manual_seed(seed)
        return DataLoader(Windows(), batch_size=int(recipe["batch_size"]), shuffle=True, drop_last=False,
                          generator=g, num_workers=0)
