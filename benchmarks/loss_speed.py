"""``llmgeom loss`` end to end against the bare model forward, in one run.

A GPT-2-small-size model (``GPT2Config()`` defaults: 124M parameters, 50257-entry head, random
initialisation, nothing downloaded) and a byte-level BPE tokenizer trained on the spot score a
synthetic corpus written to a ``.txt`` file (documents of uneven length, some longer than the
1024-token context).

- **llmgeom**: :func:`llmgeom.text.loss.compute_loss` on the file: reading, tokenising,
  length-sorted batching, padding, the forward pass, the float64 log-softmax accumulation.
- **bare**: the model's forward alone (``model(input_ids, attention_mask, use_cache=False)``, under
  ``torch.inference_mode``) on the very same batches, tokenised, padded and moved to the device
  before the clock starts.

Both count the same tokens; the ratio of their tokens/s must be >= 0.8 (llmgeom's overhead
at most 20 %). Each is timed ``--repeats`` times, interleaved, after one warm-up batch; the best
time counts. On the CPU the ratio of process CPU seconds is printed too: other processes on a
shared machine stretch wall time far more than the CPU time this process spends.

Run:  python benchmarks/loss_speed.py [--tokens 2500] [--batch-tokens 2048] [--repeats 3]
      [--device cpu|cuda] [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from llmgeom.devices import resolve_device
from llmgeom.text.batching import plan_batches, pool_size
from llmgeom.text.corpus import iter_documents, open_corpus
from llmgeom.text.lm import wrap_model
from llmgeom.text.loss import compute_loss
from llmgeom.text.nll import pad_batch

WORDS = (
    "the of and to in a is that for it as was with be by on not he I this are or his from at "
    "which but have an they you were her she there one all we their can has been if more when "
    "will would who so no time people year way day man thing woman life child world school state "
    "family student group country problem hand part place case week company system program "
    "question work government number night point home water room mother area money story fact "
    "month lot right study book eye job word business issue side kind head house service friend "
    "father power hour game line end member law car city community name president team minute "
    "idea kid body information back parent face others level office door health person art war "
    "history party result change morning reason research girl guy moment air teacher force "
    "education superposition scaling neural network embedding overlap width loss token model"
).split()


def synthetic_corpus(path: Path, tokens: int, seed: int = 0) -> None:
    """Documents of 20 to 1500 words (uneven lengths, like real corpora), blank-line separated."""
    rng = random.Random(seed)
    docs, words = [], 0
    while words < tokens * 0.75:  # about 1.3 tokens per word with a small BPE vocabulary
        n = int(min(1200, 20 + rng.expovariate(1 / 250)))
        sentence = []
        for i in range(n):
            sentence.append(rng.choice(WORDS))
            if i % 14 == 13:
                sentence[-1] += rng.choice((".", ",", ";", "?"))
        docs.append(" ".join(sentence))
        words += n
    path.write_text("\n\n".join(docs) + "\n")


def trained_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train([str(path)], trainer)
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=eos, eos_token=eos)


def same_batches(tokenizer, corpus, max_length: int, batch_tokens: int) -> list[list[list[int]]]:
    """The batches compute_loss forms: documents cut to max_length, pooled, sorted, planned."""
    docs = [tokenizer(t)["input_ids"][:max_length] for t in iter_documents(corpus)]
    docs = [d for d in docs if len(d) >= 2]
    pool_tokens = pool_size(batch_tokens, max_length)
    pools, pool, size = [], [], 0
    for d in docs:
        pool.append(d)
        size += len(d)
        if size >= pool_tokens:
            pools.append(pool)
            pool, size = [], 0
    if pool:
        pools.append(pool)
    batches = []
    for pool in pools:
        for idx in plan_batches([len(d) for d in pool], batch_tokens):
            batches.append([pool[i] for i in idx])
    return batches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=2500, help="corpus size (approx.)")
    parser.add_argument("--batch-tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    folder = Path(tempfile.mkdtemp(prefix="llmgeom-loss-speed-"))
    path = folder / "corpus.txt"
    synthetic_corpus(path, args.tokens)
    tokenizer = trained_tokenizer(path)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).to(device=device, dtype=dtype).eval()
    lm = wrap_model(model, tokenizer, name="gpt2-small-random")
    corpus = open_corpus(path)
    max_length = model.config.n_positions

    batches = same_batches(tokenizer, corpus, max_length, args.batch_tokens)
    padded = [tuple(t.to(device) for t in pad_batch(rows)) for rows in batches]
    n_tokens = sum(len(r) for rows in batches for r in rows)
    print(f"model: GPT2Config() (d_model 768, 12 layers, vocab 50257), {args.dtype} on {device}")
    print(
        f"corpus: {path.stat().st_size / 1e6:.2f} MB, {sum(len(b) for b in batches)} documents, "
        f"{n_tokens:,} tokens (cut at {max_length}), {len(batches)} batches of <= "
        f"{args.batch_tokens} padded tokens; torch threads: {torch.get_num_threads()}"
    )

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.inference_mode():  # warm-up: one batch through each path
        model(input_ids=padded[-1][0], attention_mask=padded[-1][1])
    sync()

    def run_llmgeom() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        result = compute_loss(lm, corpus=corpus, batch_tokens=args.batch_tokens, progress=False)
        sync()
        assert result.tokens == n_tokens, (result.tokens, n_tokens)
        return time.perf_counter() - t0, time.process_time() - c0

    def run_bare() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            for ids, mask in padded:
                model(input_ids=ids, attention_mask=mask, use_cache=False)
        sync()
        return time.perf_counter() - t0, time.process_time() - c0

    best = {"llmgeom": (float("inf"), float("inf")), "bare": (float("inf"), float("inf"))}
    for i in range(args.repeats):  # interleaved, so that a busy machine hurts both alike
        runs = {"llmgeom": run_llmgeom(), "bare": run_bare()}
        print(
            f"  repeat {i + 1}: "
            + ", ".join(f"{k} {w:.2f} s (CPU {c:.2f} s)" for k, (w, c) in runs.items())
        )
        best = {k: (min(best[k][0], w), min(best[k][1], c)) for k, (w, c) in runs.items()}
    (t_llmgeom, c_llmgeom), (t_bare, c_bare) = best["llmgeom"], best["bare"]
    rate_llmgeom, rate_bare = n_tokens / t_llmgeom, n_tokens / t_bare
    ratio = rate_llmgeom / rate_bare
    print(f"llmgeom end to end : {rate_llmgeom:10,.0f} tokens/s ({t_llmgeom:.2f} s)")
    print(f"bare model forward : {rate_bare:10,.0f} tokens/s ({t_bare:.2f} s)")
    print(f"ratio llmgeom / bare: {ratio:.3f} (must be >= 0.8)")
    if device.type == "cpu":  # a busy machine stretches wall time; the process's CPU time less
        print(f"CPU-time ratio (bare / llmgeom CPU seconds): {c_bare / c_llmgeom:.3f}")
    return 0 if ratio >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
