"""Tiny checkpoints of every paper family, served by the fake Hub (tests and benchmarks).

The repositories use the real Hub ids and tensor names of ``configs/models.csv`` (so aliases such
as ``gpt2`` or ``qwen2.5-7b`` resolve to them) with tiny shapes (vocabulary 64-100, width 8-16).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import safetensors.torch
import torch
from hub_server import FakeHub

GATED_TOKEN = "hf_tiny_secret_token"


def _st(tensors: dict[str, torch.Tensor]) -> bytes:
    return safetensors.torch.save({k: v.contiguous() for k, v in tensors.items()})


def _bin(tensors: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.contiguous() for k, v in tensors.items()}, buffer)
    return buffer.getvalue()


def _json(obj: object) -> bytes:
    return json.dumps(obj, indent=2).encode()


def _index(weight_map: dict[str, str], total: int) -> bytes:
    return _json({"metadata": {"total_size": total}, "weight_map": weight_map})


def _tokenizer_json(n: int) -> bytes:
    vocab = {f"t{i}": i for i in range(n - 2)}
    added = [{"id": n - 2, "content": "<|endoftext|>"}, {"id": n - 1, "content": "<|pad|>"}]
    return _json({"model": {"type": "BPE", "vocab": vocab}, "added_tokens": added})


@dataclass
class TinyRepo:
    """What a test needs to know about one served repository."""

    repo_id: str
    key: str  # head tensor name
    head: torch.Tensor  # the head as saved (main)
    shas: dict[str, str] = field(default_factory=dict)  # ref -> commit
    heads: dict[str, torch.Tensor] = field(default_factory=dict)  # ref -> head
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # ref -> files

    def header_bytes(self, filename: str, ref: str = "main") -> int:
        """8 + header length of a safetensors file of this repo."""
        data = self.files[ref][filename]
        return 8 + int.from_bytes(data[:8], "little")

    def head_range(self, filename: str = "model.safetensors", ref: str = "main") -> tuple[int, int]:
        """(start, stop) of the head's bytes in a safetensors file of this repo."""
        at = self.header_bytes(filename, ref)
        begin, end = json.loads(self.files[ref][filename][8:at])[self.key]["data_offsets"]
        return at + begin, at + end


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build_repos(hub: FakeHub) -> dict[str, TinyRepo]:
    """Create the tiny repositories on ``hub``; keys are short names used by the tests."""
    repos: dict[str, TinyRepo] = {}

    def add(
        name: str,
        repo_id: str,
        key: str,
        files: dict[str, bytes],
        head: torch.Tensor,
        ref: str = "main",
        gated: str | None = None,
    ) -> TinyRepo:
        repo = repos.setdefault(name, TinyRepo(repo_id, key, head))
        repo.shas[ref] = hub.add_commit(repo_id, files, ref=ref, gated_token=gated)
        repo.heads[ref] = head
        repo.files[ref] = files
        return repo

    # GPT-2: single model.safetensors, float32, tied wte.weight; a big MLP so the file >> head.
    g = _gen(1)
    wte = torch.randn(96, 16, generator=g)
    gpt2_tensors = {
        "wte.weight": wte,
        "wpe.weight": torch.randn(32, 16, generator=g),
        "h.0.ln_1.weight": torch.ones(16),
        "h.0.attn.c_attn.weight": torch.randn(16, 48, generator=g),
        "h.0.mlp.c_fc.weight": torch.randn(16, 1024, generator=g),
        "ln_f.weight": torch.ones(16),
    }
    gpt2_config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": 96,
        "n_embd": 16,
        "n_layer": 1,
        "n_head": 2,
        "n_positions": 32,
    }
    gpt2_files = {
        "config.json": _json(gpt2_config),
        "model.safetensors": _st(gpt2_tensors),
        "tokenizer.json": _tokenizer_json(96),
        "README.md": b"# tiny gpt2\n",
    }
    add("gpt2", "openai-community/gpt2", "wte.weight", gpt2_files, wte)
    add("gated", "test-org/gated-gpt2", "wte.weight", gpt2_files, wte, gated=GATED_TOKEN)

    # OPT-125m: single pytorch_model.bin, float16, decoder.embed_tokens.weight.
    g = _gen(2)
    opt_embed = torch.randn(80, 16, generator=g).half()
    opt_config = {
        "model_type": "opt",
        "architectures": ["OPTForCausalLM"],
        "vocab_size": 80,
        "hidden_size": 16,
        "word_embed_proj_dim": 16,
        "ffn_dim": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "torch_dtype": "float16",
    }
    opt_tensors = {
        "decoder.embed_tokens.weight": opt_embed,
        "decoder.embed_positions.weight": torch.randn(34, 16, generator=g).half(),
        "decoder.layers.0.fc1.weight": torch.randn(32, 16, generator=g).half(),
        "decoder.final_layer_norm.weight": torch.ones(16).half(),
    }
    add(
        "opt",
        "facebook/opt-125m",
        "decoder.embed_tokens.weight",
        {"config.json": _json(opt_config), "pytorch_model.bin": _bin(opt_tensors)},
        opt_embed,
    )
    # ... and a safetensors conversion pull request, as the Hub's conversion bot opens them
    add(
        "opt",
        "facebook/opt-125m",
        "decoder.embed_tokens.weight",
        {"config.json": _json(opt_config), "model.safetensors": _st(opt_tensors)},
        opt_embed,
        ref="refs/pr/1",
    )

    # OPT-350m-like: 8-wide embed_tokens, hidden 16, project_in / project_out.
    g = _gen(3)
    opt350_embed = torch.randn(80, 8, generator=g).half()
    add(
        "opt350",
        "facebook/opt-350m",
        "decoder.embed_tokens.weight",
        {
            "config.json": _json(
                {**opt_config, "word_embed_proj_dim": 8, "do_layer_norm_before": False}
            ),
            "pytorch_model.bin": _bin(
                {
                    "decoder.embed_tokens.weight": opt350_embed,
                    "decoder.embed_positions.weight": torch.randn(34, 16, generator=g).half(),
                    "decoder.project_in.weight": torch.randn(16, 8, generator=g).half(),
                    "decoder.project_out.weight": torch.randn(8, 16, generator=g).half(),
                    "decoder.layers.0.fc1.weight": torch.randn(32, 16, generator=g).half(),
                }
            ),
        },
        opt350_embed,
    )

    # OPT sharded .bin (opt-6.7b+): head in shard 1; the last shard holds an lm_head copy (66b).
    g = _gen(4)
    opt_big_embed = torch.randn(80, 16, generator=g).half()
    shard1 = {
        "decoder.embed_tokens.weight": opt_big_embed,
        "decoder.embed_positions.weight": torch.randn(34, 16, generator=g).half(),
    }
    shard2 = {
        "decoder.layers.0.fc1.weight": torch.randn(32, 16, generator=g).half(),
        "lm_head.weight": opt_big_embed.clone(),
    }
    names = ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")
    weight_map = {k: names[0] for k in shard1} | {k: names[1] for k in shard2}
    add(
        "opt_sharded",
        "facebook/opt-6.7b",
        "decoder.embed_tokens.weight",
        {
            "config.json": _json({**opt_config, "num_hidden_layers": 1}),
            "pytorch_model.bin.index.json": _index(weight_map, 0),
            names[0]: _bin(shard1),
            names[1]: _bin(shard2),
        },
        opt_big_embed,
    )

    # Pythia: untied embed_out.weight, 72 rows (padded) for a 66-token tokenizer; two revisions.
    pythia_config = {
        "model_type": "gpt_neox",
        "architectures": ["GPTNeoXForCausalLM"],
        "vocab_size": 72,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 32,
        "tie_word_embeddings": False,
    }
    for ref, seed in (("main", 5), ("step143000", 6), ("step1000", 7)):
        g = _gen(seed)
        embed_out = torch.randn(72, 16, generator=g).half()
        tensors = {
            "gpt_neox.embed_in.weight": torch.randn(72, 16, generator=g).half(),
            "gpt_neox.layers.0.mlp.dense_h_to_4h.weight": torch.randn(64, 16, generator=g).half(),
            "embed_out.weight": embed_out,
        }
        files = {"config.json": _json(pythia_config), "model.safetensors": _st(tensors)}
        add("pythia", "EleutherAI/pythia-70m", "embed_out.weight", files, embed_out, ref=ref)
        files_tok = {**files, "tokenizer.json": _tokenizer_json(66)}
        add(
            "pythia_other",
            "test-org/tiny-pythia",
            "embed_out.weight",
            files_tok,
            embed_out,
            ref=ref,
        )

    # Qwen2.5 tied: single model.safetensors, bfloat16, model.embed_tokens.weight.
    qwen_config = {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "vocab_size": 100,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    g = _gen(8)
    qwen_embed = torch.randn(100, 16, generator=g).bfloat16()
    add(
        "qwen_tied",
        "Qwen/Qwen2.5-0.5B",
        "model.embed_tokens.weight",
        {
            "config.json": _json(qwen_config),
            "model.safetensors": _st(
                {
                    "model.embed_tokens.weight": qwen_embed,
                    "model.layers.0.mlp.gate_proj.weight": torch.randn(
                        32, 16, generator=g
                    ).bfloat16(),
                    "model.norm.weight": torch.ones(16).bfloat16(),
                }
            ),
        },
        qwen_embed,
    )

    # Qwen2.5 untied, sharded safetensors: lm_head.weight in the second (last) shard.
    g = _gen(9)
    lm_head = torch.randn(100, 16, generator=g).bfloat16()
    s1 = {
        "model.embed_tokens.weight": torch.randn(100, 16, generator=g).bfloat16(),
        "model.layers.0.mlp.gate_proj.weight": torch.randn(32, 16, generator=g).bfloat16(),
    }
    s2 = {"model.norm.weight": torch.ones(16).bfloat16(), "lm_head.weight": lm_head}
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    weight_map = {k: names[0] for k in s1} | {k: names[1] for k in s2}
    add(
        "qwen_sharded",
        "Qwen/Qwen2.5-7B",
        "lm_head.weight",
        {
            "config.json": _json({**qwen_config, "tie_word_embeddings": False}),
            "model.safetensors.index.json": _index(weight_map, 0),
            names[0]: _st(s1),
            names[1]: _st(s2),
        },
        lm_head,
    )
    return repos
