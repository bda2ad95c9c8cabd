"""Small real text assets for tests: a corpus written here, tiny GPT-2 and Llama models saved for real."""
from __future__ import annotations

from pathlib import Path

# William Blake, "The Tyger" (1794), public domain: a real poem, small enough for a test corpus.
TYGER = """Tyger Tyger, burning bright,
In the forests of the night;
What immortal hand or eye,
Could frame thy fearful symmetry?

In what distant deeps or skies.
Burnt the fire of thine eyes?
On what wings dare he aspire?
What the hand, dare seize the fire?

And what shoulder, & what art,
Could twist the sinews of thy heart?
And when thy heart began to beat,
What dread hand? & what dread feet?

What the hammer? what the chain,
In what furnace was thy brain?
What the anvil? what dread grasp,
Dare its deadly terrors clasp!

When the stars threw down their spears
And water'd heaven with their tears:
Did he smile his work to see?
Did he who made the Lamb make thee?

Tyger Tyger burning bright,
In the forests of the night:
What immortal hand or eye,
Dare frame thy fearful symmetry?
"""
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


def write_corpus(folder: Path, copies: int = 3) -> list[Path]:
    """The poem as a few .txt files (each a little different), as a writer's uploads would be."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(copies):
        path = folder / f"poem-{i}.txt"
        path.write_text(TYGER.replace("Tyger", ["Tyger", "Tiger", "Lion"][i % 3]), encoding="utf-8")
        paths.append(path)
    return paths


def tiny_text_model(text: str = TYGER, context: int = 32):
    """A tiny GPT-2 (random weights) with a char tokenizer of `text`, as the studio's TextModel bundle."""
    import torch

    from studio.data.text import build_tokenizer
    from studio.families.text import TextModel, build_gpt2, text_config

    torch.manual_seed(0)
    tok = build_tokenizer("char", text)
    config = text_config("tiny", len(tok), context)
    return TextModel(build_gpt2(config), tok), config


def save_tiny_text_model(name: str, text: str = TYGER, context: int = 32):
    from studio.services.models import save_model

    bundle, config = tiny_text_model(text, context)
    return save_model(name, "text", bundle, {"config": config, "shapes": {"context": context}, "recipe": {},
                                             "dataset": {"name": "test poem"}})


def tiny_llama_folder(folder: Path, text: str = TYGER) -> Path:
    """A tiny Llama (the SmolLM2 architecture) with a chat template, saved in the transformers layout."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from studio.data.text import build_tokenizer

    torch.manual_seed(0)
    tok = build_tokenizer("char", text + "<>userasint")
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=0, eos_token_id=0, pad_token_id=0)
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def save_tiny_lora(name: str, base: str, r: int = 4, seed: int = 0):
    """A LoRA adapter (peft) on the studio text model `base`, with random nonzero weights so that it changes
    what the base writes, saved through the models service as training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model

    from studio.families.lora import load_base
    from studio.families.text import TextModel
    from studio.services.models import save_model

    model, tokenizer = load_base(base, torch.device("cpu"))
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=2 * r, lora_dropout=0.0))
    torch.manual_seed(seed)
    with torch.no_grad():
        for key, p in peft_model.named_parameters():
            if "lora_B" in key:
                p.normal_(0, 0.5)
    config = {"base_model": base, "r": r, "alpha": 2 * r, "dropout": 0.0, "target_modules": None}
    return save_model(name, "lora", TextModel(peft_model, tokenizer),
                      {"config": config, "shapes": {"base_model": base}, "recipe": {}, "dataset": {"name": "none"}})
