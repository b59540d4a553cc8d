"""Tiny checkpoints with the exact tensor names of the real Hub checkpoints (configs/models.csv).

Each :class:`TinySpec` mirrors one layout of the paper's models at toy size; ``write_checkpoint``
writes it as a Hugging Face directory (config.json, tokenizer.json, single or sharded
safetensors or ``.bin`` with index files) and returns the head tensor it wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import safetensors.torch
import torch


@dataclass(frozen=True)
class TinySpec:
    """A toy checkpoint layout: config, tensor shapes, which tensor is the head."""

    name: str
    family: str | None
    config: dict
    tensors: dict[str, tuple[int, ...]]
    head: str
    tied: bool
    d_model: int
    tokenizer_len: int
    # tensors that are copies of another (e.g. OPT-66b's lm_head.weight == embed_tokens)
    copies: dict[str, str] = field(default_factory=dict)
    dtype: torch.dtype = torch.float32


def _gpt2(prefix: str = "") -> TinySpec:
    V, d = 96, 16
    return TinySpec(
        name="gpt2" + ("-resaved" if prefix else ""),
        family="gpt2",
        config={
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": V,
            "n_embd": d,
            "n_head": 2,
            "n_layer": 2,
            "n_positions": 32,
        },
        tensors={
            f"{prefix}wte.weight": (V, d),
            f"{prefix}wpe.weight": (32, d),
            f"{prefix}h.0.attn.c_attn.weight": (d, 3 * d),
            f"{prefix}ln_f.weight": (d,),
        },
        head=f"{prefix}wte.weight",
        tied=True,
        d_model=d,
        tokenizer_len=V,
    )


def _opt(proj: int | None = None, with_lm_head: bool = False, prefix: str = "") -> TinySpec:
    V, d = 80, 16
    w = proj or d
    tensors = {
        f"{prefix}decoder.embed_tokens.weight": (V, w),
        f"{prefix}decoder.embed_positions.weight": (34, d),
        f"{prefix}decoder.layers.0.fc1.weight": (32, d),
    }
    if proj:
        tensors[f"{prefix}decoder.project_in.weight"] = (d, w)
        tensors[f"{prefix}decoder.project_out.weight"] = (w, d)
    copies = {}
    if with_lm_head:
        tensors["lm_head.weight"] = (V, w)
        copies["lm_head.weight"] = f"{prefix}decoder.embed_tokens.weight"
    name = "opt-350m" if proj else ("opt-66b" if with_lm_head else "opt")
    return TinySpec(
        name=name + ("-prefixed" if prefix else ""),
        family="opt",
        config={
            "model_type": "opt",
            "architectures": ["OPTForCausalLM"],
            "vocab_size": V,
            "hidden_size": d,
            "word_embed_proj_dim": w,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "ffn_dim": 32,
            "max_position_embeddings": 32,
        },
        tensors=tensors,
        head=f"{prefix}decoder.embed_tokens.weight",
        tied=True,
        d_model=d,
        tokenizer_len=V - 7,
        copies=copies,
        dtype=torch.float16,
    )


def _pythia() -> TinySpec:
    V, rows, d = 60, 72, 16  # padded head: more rows than tokenizer entries
    return TinySpec(
        name="pythia",
        family="pythia",
        config={
            "model_type": "gpt_neox",
            "architectures": ["GPTNeoXForCausalLM"],
            "vocab_size": rows,
            "hidden_size": d,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "intermediate_size": 32,
            "tie_word_embeddings": False,
            "rotary_pct": 0.25,
            "max_position_embeddings": 32,
        },
        tensors={
            "gpt_neox.embed_in.weight": (rows, d),
            "embed_out.weight": (rows, d),
            "gpt_neox.final_layer_norm.weight": (d,),
        },
        head="embed_out.weight",
        tied=False,
        d_model=d,
        tokenizer_len=V,
    )


def _qwen(tied: bool) -> TinySpec:
    V, rows, d = 90, 96, 16
    tensors = {
        "model.embed_tokens.weight": (rows, d),
        "model.norm.weight": (d,),
        "model.layers.0.mlp.up_proj.weight": (32, d),
    }
    if not tied:
        tensors["lm_head.weight"] = (rows, d)
    return TinySpec(
        name="qwen2.5-" + ("tied" if tied else "untied"),
        family="qwen2.5",
        config={
            "model_type": "qwen2",
            "architectures": ["Qwen2ForCausalLM"],
            "vocab_size": rows,
            "hidden_size": d,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "num_hidden_layers": 2,
            "intermediate_size": 32,
            "tie_word_embeddings": tied,
        },
        tensors=tensors,
        head="model.embed_tokens.weight" if tied else "lm_head.weight",
        tied=tied,
        d_model=d,
        tokenizer_len=V,
        dtype=torch.bfloat16,
    )


def _llama(tied: bool) -> TinySpec:
    """An architecture with no family entry: exercises the generic skeleton rule; its family is
    its model type (the rule of every entry point, ``sources.families.family_label``)."""
    V, d = 70, 16
    tensors = {"model.embed_tokens.weight": (V, d), "model.norm.weight": (d,)}
    if not tied:
        tensors["lm_head.weight"] = (V, d)
    return TinySpec(
        name="llama-" + ("tied" if tied else "untied"),
        family="llama",
        config={
            "model_type": "llama",
            "vocab_size": V,
            "hidden_size": d,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "num_hidden_layers": 2,
            "intermediate_size": 32,
            "tie_word_embeddings": tied,
        },
        tensors=tensors,
        head="model.embed_tokens.weight" if tied else "lm_head.weight",
        tied=tied,
        d_model=d,
        tokenizer_len=V,
    )


SPECS: dict[str, TinySpec] = {
    s.name: s
    for s in (
        _gpt2(),
        _gpt2("transformer."),
        _opt(),
        _opt(prefix="model."),
        _opt(proj=8),
        _opt(with_lm_head=True),
        _pythia(),
        _qwen(True),
        _qwen(False),
        _llama(True),
        _llama(False),
    )
}


def make_tensors(spec: TinySpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors for ``spec`` (copies share values with their original)."""
    gen = torch.Generator().manual_seed(seed)
    out = {k: torch.randn(shape, generator=gen).to(spec.dtype) for k, shape in spec.tensors.items()}
    for copy, original in spec.copies.items():
        out[copy] = out[original].clone()
    return out


def _tokenizer_json(n_tokens: int) -> dict:
    vocab = {f"t{i}": i for i in range(n_tokens - 1)}
    return {
        "model": {"type": "BPE", "vocab": vocab, "merges": []},
        "added_tokens": [{"id": n_tokens - 1, "content": "<|endoftext|>", "special": True}],
    }


def _split(tensors: dict[str, torch.Tensor], shards: int) -> list[dict[str, torch.Tensor]]:
    names = list(tensors)
    per = -(-len(names) // shards)
    return [{k: tensors[k] for k in names[i : i + per]} for i in range(0, len(names), per)]


def write_checkpoint(
    spec: TinySpec,
    directory: Path,
    fmt: str = "safetensors",
    shards: int = 1,
    tokenizer: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Write ``spec`` as a HF checkpoint directory; return the head tensor written."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(spec.config))
    if tokenizer:
        (directory / "tokenizer.json").write_text(json.dumps(_tokenizer_json(spec.tokenizer_len)))
    tensors = make_tensors(spec, seed)
    ext, stem = (".safetensors", "model") if fmt == "safetensors" else (".bin", "pytorch_model")
    if shards == 1:
        _save(tensors, directory / f"{stem}{ext}", fmt)
    else:
        parts = _split(tensors, shards)
        weight_map = {}
        for i, part in enumerate(parts, start=1):
            fname = f"{stem}-{i:05d}-of-{len(parts):05d}{ext}"
            _save(part, directory / fname, fmt)
            weight_map.update({k: fname for k in part})
        index = {
            "metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
            "weight_map": weight_map,
        }
        (directory / f"{stem}{ext}.index.json").write_text(json.dumps(index))
    return tensors[spec.head]


def _save(tensors: dict[str, torch.Tensor], path: Path, fmt: str) -> None:
    if fmt == "safetensors":
        safetensors.torch.save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"}
        )
    else:
        torch.save(tensors, path)


def write_gguf(path, arch: str, tensors: dict, embedding_length: int | None = None):
    """A GGUF file of ``tensors`` (name -> (array, raw_dtype or None)); returns ``path``."""
    import gguf  # only the GGUF tests need it

    writer = gguf.GGUFWriter(str(path), arch)
    if embedding_length is not None:
        writer.add_embedding_length(embedding_length)
    for name, (array, raw_dtype) in tensors.items():
        if raw_dtype is None:
            writer.add_tensor(name, array)
        else:
            writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
