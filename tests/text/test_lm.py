"""llmgeom.text.lm: loading causal LMs (local folder, GGUF file, memory) with their identity."""

from __future__ import annotations

import hashlib
import json

import gguf
import numpy as np
import pytest
import tiny_models
import torch
from text.helpers import ENGLISH, train_tokenizer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedTokenizerFast,
)

from llmgeom.errors import ConfigError, NetworkError, SourceNotFoundError
from llmgeom.text.lm import load_model, wrap_model
from llmgeom.text.loss import compute_loss

TEXTS = [*ENGLISH.splitlines(), "Unseen: zebra, quokka and 42 axolotls!"]


def hand_loss(model, tokenizer, texts, max_length=2048) -> float:
    total, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text)["input_ids"][:max_length]
        if len(ids) < 2:
            continue
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        total -= sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)))
        count += len(ids) - 1
    return total / count


def test_local_folder_identity_and_loss(tmp_path):
    tokenizer = train_tokenizer(tmp_path)
    torch.manual_seed(0)
    model = tiny_models.pythia(vocab=len(tokenizer) + 8, width=16).eval()
    model.save_pretrained(tmp_path)
    lm = load_model(tmp_path, device="cpu")
    ident = lm.identity
    assert (lm.name, lm.dtype, lm.device, lm.quantization) == (
        tmp_path.name,
        "float32",
        "cpu",
        None,
    )
    assert ident["family"] == "pythia" and ident["model_type"] == "gpt_neox"
    assert (ident["d_model"], ident["head_width"], ident["head_rows"]) == (16, 16, 208)
    assert ident["tokenizer_len"] == 200 and ident["context_length"] == 16
    weights = tmp_path / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert ident["files"] == [{"name": "model.safetensors", "size": weights.stat().st_size,
                               "sha256": digest}]  # fmt: skip
    result = compute_loss(lm, corpus=TEXTS)
    assert result.loss == pytest.approx(hand_loss(model, tokenizer, TEXTS, 16), abs=1e-5)
    assert compute_loss(str(tmp_path), corpus=TEXTS).loss == pytest.approx(result.loss, abs=1e-9)


def test_dtype_is_applied_and_recorded(tmp_path):
    tokenizer = train_tokenizer(tmp_path)
    tiny_models.qwen(tied=True, vocab=len(tokenizer)).save_pretrained(tmp_path)
    lm = load_model(tmp_path, device="cpu", dtype="bfloat16")
    assert lm.model.dtype == torch.bfloat16 and lm.dtype == "bfloat16"
    result = compute_loss(lm, corpus=TEXTS[:3])
    assert result.to_dict()["dtype"] == "bfloat16"
    with pytest.raises(ConfigError, match="unknown dtype"):
        load_model(tmp_path, dtype="float8")


def test_opt_350m_like_model_reports_d_model_and_head_width(tmp_path):
    """OPT-350m: the head is word_embed_proj_dim wide, m (for the loss fit) is d_model."""
    tokenizer = train_tokenizer(tmp_path)
    config = OPTConfig(
        vocab_size=len(tokenizer), hidden_size=16, word_embed_proj_dim=8, num_hidden_layers=1,
        num_attention_heads=2, ffn_dim=32, max_position_embeddings=32, pad_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = OPTForCausalLM(config).eval()
    lm = wrap_model(model, tokenizer, name="opt-350m-like")
    result = compute_loss(lm, corpus=TEXTS)
    assert result.csv_row()["m"] == "16" and result.csv_row()["head_width"] == "8"
    assert result.loss == pytest.approx(hand_loss(model, tokenizer, TEXTS, 32), abs=1e-5)


def test_missing_and_foreign_sources(tmp_path):
    with pytest.raises(SourceNotFoundError, match="no such model"):
        load_model(tmp_path / "absent")
    (tmp_path / "weights.npy").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a model"):
        load_model(tmp_path / "weights.npy")


def test_checkpoint_code_is_not_run_by_default(tmp_path):
    train_tokenizer(tmp_path)
    config = {"model_type": "my-own-lm", "architectures": ["MyLM"],
              "auto_map": {"AutoModelForCausalLM": "modeling_mine.MyLM"}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modeling_mine.py").write_text("raise SystemExit('checkpoint code ran')\n")
    with pytest.raises(ConfigError, match=r"ships its own code.*trust_remote_code=True"):
        load_model(tmp_path)


# ------------------------------------------------------------------------------ GGUF


def _byte_level_tokenizer() -> tuple[Tokenizer, PreTrainedTokenizerFast]:
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    raw.train_from_iterator(ENGLISH.splitlines(), trainer)
    eos = "<|endoftext|>"
    return raw, PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=eos, eos_token=eos)


def write_gguf(path, model: GPT2LMHeadModel, raw: Tokenizer, quantize: bool = False) -> None:
    """``model`` and ``raw`` as a GGUF file, named and laid out as transformers reads them."""
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        get_gguf_hf_weights_map,
    )

    cfg = model.config
    names = get_gguf_hf_weights_map(model, TENSOR_PROCESSORS["gpt2"](config=cfg.to_dict()))
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_context_length(cfg.n_positions)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_feed_forward_length(4 * cfg.n_embd)
    writer.add_block_count(cfg.n_layer)
    writer.add_head_count(cfg.n_head)
    writer.add_layer_norm_eps(cfg.layer_norm_epsilon)
    spec = json.loads(raw.to_str())["model"]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(sorted(spec["vocab"], key=spec["vocab"].get))
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in spec["merges"]])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    state = model.state_dict()
    conv1d = ("attn_qkv.weight", "ffn_down.weight", "ffn_up.weight", "attn_output.weight")
    for gguf_name, hf_name in names.items():
        tensor = state[hf_name].numpy().astype(np.float32)
        if gguf_name.endswith(conv1d):  # GPT-2's Conv1D stores (in, out); GGUF (out, in)
            tensor = np.ascontiguousarray(tensor.T)
        if quantize and tensor.ndim == 2 and tensor.shape[1] % 32 == 0:
            kind = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(gguf_name, gguf.quants.quantize(tensor, kind), raw_dtype=kind)
        else:
            writer.add_tensor(gguf_name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def gguf_pair():
    raw, tokenizer = _byte_level_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=1024,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return raw, tokenizer, GPT2LMHeadModel(config).eval()


def test_gguf_file_loss_equals_the_original_model(gguf_pair, tmp_path):
    raw, tokenizer, model = gguf_pair
    path = tmp_path / "tiny-gpt2.gguf"
    write_gguf(path, model, raw)
    lm = load_model(path, device="cpu")
    for text in TEXTS:  # the tokenizer read from the file encodes as the original
        assert lm.tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    result = compute_loss(lm, corpus=TEXTS)
    assert result.loss == pytest.approx(hand_loss(model, tokenizer, TEXTS), abs=1e-5)
    assert (lm.name, lm.identity["kind"], lm.identity["family"]) == ("tiny-gpt2", "gguf", "gpt2")
    assert lm.quantization == "gguf F32 dequantised to float32"
    assert lm.identity["files"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_quantised_gguf_is_dequantised_and_says_so(gguf_pair, tmp_path):
    raw, tokenizer, model = gguf_pair
    path = tmp_path / "q8.gguf"
    write_gguf(path, model, raw, quantize=True)
    lm = load_model(path, device="cpu")
    assert lm.quantization == "gguf F32/Q8_0 dequantised to float32"
    # the oracle: the original model with each Q8_0 tensor replaced by its dequantised copy
    reader = gguf.GGUFReader(str(path))
    restored = {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors}
    oracle = GPT2LMHeadModel(model.config).eval()
    oracle.load_state_dict(lm.model.state_dict())
    assert torch.equal(
        oracle.transformer.wte.weight, torch.from_numpy(restored["token_embd.weight"])
    )
    result = compute_loss(lm, corpus=TEXTS)
    assert result.loss == pytest.approx(hand_loss(oracle, tokenizer, TEXTS), abs=1e-5)
    assert result.loss != pytest.approx(hand_loss(model, tokenizer, TEXTS), abs=1e-6)


def test_hub_id_loads_through_the_transformers_cache_offline(tmp_path, monkeypatch):
    """A Hub id goes through transformers' own cache; commit and weight sha256 come from it
    (a blob's name is the sha256 of an LFS file) without hashing anything again."""
    import huggingface_hub.constants

    cache = tmp_path / "hub-cache"
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = cache / "models--acme--tiny-lm"
    snapshot = repo / "snapshots" / commit
    tokenizer = train_tokenizer(snapshot)
    torch.manual_seed(0)
    model = tiny_models.gpt2(vocab=len(tokenizer), width=16).eval()
    model.save_pretrained(tmp_path / "saved")
    weights = (tmp_path / "saved" / "model.safetensors").read_bytes()
    digest = hashlib.sha256(weights).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / digest).write_bytes(weights)
    (snapshot / "model.safetensors").symlink_to(f"../../blobs/{digest}")
    (snapshot / "config.json").write_text((tmp_path / "saved" / "config.json").read_text())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    lm = load_model("acme/tiny-lm", device="cpu")
    assert (lm.name, lm.identity["kind"], lm.identity["repo_id"]) == (
        "acme/tiny-lm", "hub", "acme/tiny-lm",
    )  # fmt: skip
    assert lm.identity["commit"] == commit
    assert lm.identity["files"] == [
        {"name": "model.safetensors", "size": len(weights), "sha256": digest}
    ]
    result = compute_loss(lm, corpus=TEXTS)
    assert result.loss == pytest.approx(hand_loss(model, tokenizer, TEXTS, 16), abs=1e-5)
    assert result.csv_row()["model"] == "acme/tiny-lm"
    with pytest.raises(NetworkError):
        load_model("acme/not-cached")
