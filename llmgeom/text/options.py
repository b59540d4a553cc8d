"""The options of the text analyses, declared once: ``loss`` and ``freq`` (and their corpus part).

:class:`CorpusOptions` is how documents are read (shared), :class:`LossOptions` and
:class:`FreqOptions` add what each analysis needs. The command line derives its flags from them
(:func:`llmgeom.options.add_arguments`), :func:`~llmgeom.text.loss.compute_loss` and
:func:`~llmgeom.text.freq.count_tokens` validate their keyword arguments with them, and the sweep
config's ``[loss]`` / ``[freq]`` tables use the same names. A bad value is a one-line
:class:`~llmgeom.errors.ConfigError` naming the Python parameter (the CLI shows the flag).

Example:
    >>> FreqOptions().tokens, FreqOptions(tokens=0).budget  # 0: the whole corpus
    (1000000, None)
    >>> LossOptions(samples=0)
    Traceback (most recent call last):
    ...
    llmgeom.errors.ConfigError: samples must be at least 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from ..devices import DEVICE_HELP
from ..options import (  # noqa: F401 - refuse_inapplicable: text/loss and text/freq use it here
    check_choice,
    check_text,
    check_whole,
    naming,
    option,
    refuse_inapplicable,
    require,
)

RECIPE_HELP = (
    "the authors' sampling: wikitext/bookcorpus lines joined until >= max-length/2 words make a "
    "document; c4 and the Pile: records as they come"
)
RECIPE_CHOICES = ("paper",)
DEFAULT_BATCH_TOKENS = 8192  # padded tokens per forward pass
DEFAULT_TOKENS = 1_000_000  # tokens counted per corpus (the paper's §3)
PADDING_SIDES = ("right", "left")
DType = Literal["float32", "bfloat16", "float16"]
DTYPES: tuple[DType, ...] = ("float32", "bfloat16", "float16")
Quantization = Literal["8bit", "4bit", "none"]
QUANTIZATIONS: tuple[Quantization, ...] = ("8bit", "4bit", "none")
QUANTIZATION_HELP = (
    "load the weights in 8 or 4 bits with bitsandbytes (needs `pip install 'llmgeom[quant]'` "
    "and a CUDA GPU; the authors' script loaded in 8bit) or as they are (default: {default})"
)
DEVICE_MAPS = ("auto",)


def reading_options(text_field: str, recipe: str | None) -> dict[str, Any]:
    """``text_field`` and ``recipe`` where they differ from the defaults (None where not),
    for :func:`refuse_inapplicable` when the corpus is already read.

    Example:
        >>> reading_options("text", "paper")
        {'text_field': None, 'recipe': 'paper'}
    """
    return {"text_field": None if text_field == "text" else text_field, "recipe": recipe}


@dataclass(frozen=True)
class CorpusOptions:
    """How a corpus is read as documents (``llmgeom loss`` and ``llmgeom freq`` alike).

    Example:
        >>> CorpusOptions(recipe="mine")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: recipe must be one of 'paper' or None, got 'mine'
    """

    samples: int | None = option(
        None, "first N documents only", flag="--samples", metavar="N", kind=int
    )
    max_length: int | None = option(
        None, "tokens kept per document", flag="--max-length", metavar="L", kind=int
    )
    text_field: str = option(
        "text", "field of .jsonl/.parquet (default: {default})", flag="--text-field", metavar="F"
    )
    recipe: Literal["paper"] | None = option(
        None, RECIPE_HELP, flag="--recipe", choices=RECIPE_CHOICES
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        check_whole("samples", self.samples, minimum=1)
        check_whole("max_length", self.max_length, minimum=2, unit=" tokens")
        check_text("text_field", self.text_field, blank=True)
        check_choice("recipe", self.recipe, RECIPE_CHOICES, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The options by their Python names (the sweep's TOML keys).

        Example:
            >>> CorpusOptions(samples=5).to_dict()
            {'samples': 5, 'max_length': None, 'text_field': 'text', 'recipe': None}
        """
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class LossOptions(CorpusOptions):
    """Options of :func:`~llmgeom.text.loss.compute_loss` and ``llmgeom loss``.

    Example:
        >>> LossOptions(batch_tokens=0)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: batch_tokens must be at least 1, got 0
    """

    max_length: int | None = option(
        None,
        "tokens kept per document (default: the model's context length, at most 2048)",
        flag="--max-length",
        metavar="L",
        kind=int,
    )
    batch_tokens: int = option(
        DEFAULT_BATCH_TOKENS,
        "padded tokens per forward pass (default {default})",
        flag="--batch-tokens",
        metavar="T",
        kind=int,
        exclusive="batch",
    )
    batch_size: int | None = option(
        None,
        "documents per pass",
        flag="--batch-size",
        metavar="B",
        kind=int,
        exclusive="batch",
    )
    padding_side: Literal["right", "left"] = option("right", "where padding goes (Python only)")
    quantization: Quantization = option(  # noqa: RUF009 - dataclasses.field with help
        "none", QUANTIZATION_HELP, flag="--quantization", choices=QUANTIZATIONS
    )

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        super().validate()
        check_whole("batch_tokens", self.batch_tokens, minimum=1)
        check_whole("batch_size", self.batch_size, minimum=1)
        require(
            self.padding_side in PADDING_SIDES,
            "padding_side",
            f"padding_side must be 'right' or 'left', not {self.padding_side!r}",
        )
        check_choice("quantization", self.quantization, QUANTIZATIONS)


@dataclass(frozen=True)
class FreqOptions(CorpusOptions):
    """Options of :func:`~llmgeom.text.freq.count_tokens` and ``llmgeom freq``.

    ``tokens``: the budget per corpus; 0 counts the whole corpus (the same in Python, on the
    command line and in a sweep config).

    Example:
        >>> FreqOptions(tokens=-1)
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: tokens must be at least 0 (0: the whole corpus), got -1
    """

    tokens: int = option(
        DEFAULT_TOKENS,
        "tokens to count per corpus (default: {default}; 0 = the whole corpus)",
        flag="--tokens",
        metavar="N",
        kind=int,
    )
    max_length: int | None = option(
        None,
        "with --recipe paper: documents of >= L/2 words (default 2048)",
        flag="--max-length",
        metavar="L",
        kind=int,
    )

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option."""
        super().validate()
        require(
            self.tokens is not None,
            "tokens",
            "tokens=None is no budget: tokens=0 counts the whole corpus",
        )
        check_whole("tokens", self.tokens, minimum=0, unit=" (0: the whole corpus)")

    @property
    def budget(self) -> int | None:
        """The tokens to count, None for the whole corpus."""
        return self.tokens or None


@dataclass(frozen=True)
class ModelOptions:
    """How ``llmgeom loss`` loads its model: the keywords of
    :func:`llmgeom.text.lm.load_model` of the same names and defaults (declared once; the flags
    derive from them). ``quantization``, also a sweep key, is a :class:`LossOptions` field.

    Example:
        >>> ModelOptions(dtype="bfloat16").to_dict()
        {'dtype': 'bfloat16', 'device': 'auto', 'device_map': None}
        >>> ModelOptions(dtype="float64")
        Traceback (most recent call last):
        ...
        llmgeom.errors.ConfigError: dtype must be one of float32, bfloat16, float16 or None, \
got 'float64'
    """

    dtype: DType | None = option(  # noqa: RUF009 - option() is dataclasses.field with help
        None,
        "weights' dtype (default: float32 on CPU, bfloat16 on GPU)",
        flag="--dtype",
        choices=DTYPES,
    )
    device: str = option("auto", DEVICE_HELP, flag="--device")
    device_map: Literal["auto"] | None = option(
        None,
        "let accelerate spread a model larger than one device over GPUs and CPU",
        flag="--device-map",
        choices=DEVICE_MAPS,
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the first bad option (the device's
        existence is asked when the model loads)."""
        from ..devices import check_device_name

        check_choice("dtype", self.dtype, DTYPES, optional=True, quote=False)
        check_choice("device_map", self.device_map, DEVICE_MAPS, optional=True, quote=False)
        with naming("device"):
            check_device_name(self.device)

    def to_dict(self) -> dict[str, Any]:
        """The options by their Python names, the keywords of ``load_model``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
