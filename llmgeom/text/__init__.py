"""Text: corpora read as documents, tokenizers loaded with provenance, token frequencies.

``corpus`` (documents of .txt/.jsonl/.parquet/folders/``hf:`` datasets) and ``tokenizers`` are
shared by ``llmgeom freq`` and ``llmgeom loss``.

Example:
    >>> from llmgeom.text import open_corpus, iter_documents, load_tokenizer
    >>> callable(open_corpus) and callable(iter_documents) and callable(load_tokenizer)
    True
"""

from __future__ import annotations

from .corpus import Corpus, iter_documents, open_corpus
from .tokenizers import LoadedTokenizer, load_tokenizer

__all__ = ["Corpus", "LoadedTokenizer", "iter_documents", "load_tokenizer", "open_corpus"]
