"""What is specific to the paper (Liu, Liu & Gore, NeurIPS 2025): its published fitted values
(:mod:`.published`) and ``llmgeom reproduce paper`` (:mod:`.reproduce`). The general tool never
imports this package.

Example:
    >>> from llmgeom.paper.published import paper_fit
    >>> sorted(paper_fit())[:2]
    ['C', 'alpha']
"""
