"""The verification of under-trained-token candidates with the full model (Land & Bartolo 2024,
"Fishing for Magikarp"): prompts that ask the model to repeat a token, and the largest
probability it gives that token while it answers.

Each of the authors' three prompts (:data:`REPETITION_PROMPTS`: an input/output device with 20
examples, an assistant asked what the token means, the token repeated 50 times) is written with
a placeholder token (an ordinary, long, alphabetic token whose double survives the round trip),
tokenised with the tokenizer's default special tokens, and the placeholder's ids are replaced by
the candidate's; the model then continues greedily for :data:`STEPS` tokens and the candidate's
softmax probability at each step is read. ``max_prob`` is the largest over steps and prompts; a
token with ``max_prob`` below :data:`VERIFIED_BELOW` (0.01) is verified under-trained: the model
cannot even repeat it. A prompt longer than the model's context keeps its last tokens.

Example:
    >>> [p.name for p in REPETITION_PROMPTS], REPETITION_PROMPTS[0].text("x")[-20:]
    (['input_output', 'assistant_explain', 'repeats'], 'Input: «x»\\nOutput: «')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

VERIFIED_BELOW = 0.01
STEPS = 3  # tokens generated per prompt


@dataclass(frozen=True)
class RepetitionPrompt:
    """``preamble + (ask + answer) * shots + ask + answer up to the token``, ``{token}`` being
    where the token goes."""

    name: str
    shots: int
    preamble: str
    ask: str
    answer: str

    def text(self, token: str) -> str:
        """The prompt with ``token`` in every place, ending where the model must repeat it."""
        cut = self.answer[: self.answer.index("{token}")]
        body = self.preamble + (self.ask + self.answer) * self.shots + self.ask + cut
        return body.replace("{token}", token)

    def occurrences(self) -> int:
        """How many times the token appears in :meth:`text`."""
        return self.shots * (self.ask.count("{token}") + self.answer.count("{token}")) + (
            self.ask.count("{token}")
        )


#: The authors' three prompts (cohere-ai/magikarp, ``fishing.py``).
REPETITION_PROMPTS = (
    RepetitionPrompt(
        "input_output",
        20,
        "This device repeats its input exactly, as shown in these 100 identical trials.",
        "\nInput: «{token}»\nOutput:",
        " «{token}»",
    ),
    RepetitionPrompt(
        "assistant_explain",
        0,
        "This helpful assistant explains what a phrase means, replying with identical "
        "responses to identical questions for reliability.",
        "\nUser: What does 'edslfkj' mean?\nAssistant: 'edslfkj' has no specific meaning I am "
        "aware of.\nUser: what does '{token}' mean?\nAssistant:",
        " '{token}'",
    ),
    RepetitionPrompt(
        "repeats",
        50,
        "Below is the output, as you can see it's just giving the same phrase repeated "
        "indefinitely:\n",
        "{token}",
        "{token}",
    ),
)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text)["input_ids"])


def prompt_ids(tokenizer: Any, placeholder: int, placeholder_text: str) -> list[list[int]] | None:
    """The ids of every prompt written with the placeholder, or None when the placeholder does
    not come out of the tokenizer exactly where the prompt puts it."""
    out = []
    for prompt in REPETITION_PROMPTS:
        ids = _encode(tokenizer, prompt.text(placeholder_text))
        if ids.count(placeholder) != prompt.occurrences():
            return None
        out.append(ids)
    return out


def choose_placeholder(
    tokenizer: Any, ordinary: np.ndarray, strings: Sequence[str | None]
) -> tuple[int, list[list[int]]]:
    """The placeholder the prompts are built with (the authors' choice: an ordinary token,
    alphabetic, with the most distinct characters, the longest) and the prompts' ids."""
    pool = [int(i) for i in np.flatnonzero(ordinary) if strings[int(i)]]
    pool.sort(
        key=lambda i: (str(strings[i]).isalpha(), len(set(str(strings[i]))), len(str(strings[i]))),
        reverse=True,
    )
    for token in pool[:200]:
        text = str(strings[token])
        if list(tokenizer(text + text, add_special_tokens=False)["input_ids"]) != [token, token]:
            continue
        ids = prompt_ids(tokenizer, int(token), text)
        if ids is not None:
            return int(token), ids
    raise ConfigError(
        "verify: no ordinary token survives the repetition prompts' round trip to stand in for "
        "the candidates",
        parameter="verify",
    )


def _context(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@torch.no_grad()
def repetition_probability(
    model: Any, prompts: Sequence[Sequence[int]], placeholder: int, token: int
) -> tuple[float, list[float]]:
    """``(max_prob, per prompt)``: the largest softmax probability of ``token`` over
    :data:`STEPS` greedy steps after each prompt, the placeholder's ids replaced by ``token``."""
    device = next(model.parameters()).device
    context = _context(model)
    per_prompt = []
    for ids in prompts:
        seq = torch.tensor([[token if i == placeholder else i for i in ids]], device=device)
        best = 0.0
        for _ in range(STEPS):
            window = seq if context is None else seq[:, -context:]
            logits = model(window).logits[0, -1].double()
            probs = torch.softmax(logits, dim=-1)
            best = max(best, float(probs[token]))
            seq = torch.cat([seq, probs.argmax().view(1, 1)], dim=1)
        per_prompt.append(best)
    return max(per_prompt), per_prompt


def verify_tokens(
    model: Any,
    tokenizer: Any,
    ids: Sequence[int],
    ordinary: np.ndarray,
    strings: Sequence[str | None],
) -> dict[str, Any]:
    """The repetition check of ``ids`` with ``model``: ``{"max_prob": [...], "per_prompt":
    {name: [...]}, "placeholder": {...}}``, the model in eval mode while it runs."""
    placeholder, prompts = choose_placeholder(tokenizer, ordinary, strings)
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        results = [repetition_probability(model, prompts, placeholder, int(t)) for t in ids]
    finally:
        model.train(was_training)
    names = [p.name for p in REPETITION_PROMPTS]
    return {
        "max_prob": [r[0] for r in results],
        "per_prompt": {n: [r[1][k] for r in results] for k, n in enumerate(names)},
        "placeholder": {"id": placeholder, "string": strings[placeholder]},
        "prompt_tokens": {n: len(p) for n, p in zip(names, prompts, strict=True)},
    }
