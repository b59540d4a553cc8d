"""Readers of the weight-file formats whose bytes llmgeom plans itself: the safetensors header
(also from a few bytes fetched by HTTP range), PyTorch's zip ``.bin`` archives (an allow-list
unpickler that never runs checkpoint code), the legacy ``.bin`` fallback, and the block reader
that serves byte ranges of a local or remote file.

Example:
    >>> from llmgeom.sources.formats.safetensors_format import parse_header
    >>> import json
    >>> header = json.dumps({"lm_head.weight": {"dtype": "F32", "shape": [2, 2],
    ...                                         "data_offsets": [0, 16]}}).encode()
    >>> entries, _metadata = parse_header(header)
    >>> entries["lm_head.weight"].shape
    (2, 2)
"""
