"""One log-log figure per fit (matplotlib, Agg, no pyplot state); each function draws into
``ax`` (a new figure when omitted) and returns the figure: saving is the caller's job.

Points are coloured by family, the fitted line(s) drawn, the confidence interval shaded.

Example:
    >>> from llmgeom import plotting
    >>> from llmgeom.fits.chinchilla import ChinchillaCheck
    >>> fig = plot_chinchilla(ChinchillaCheck().fit())
    >>> plotting.png_bytes(fig, dpi=120)[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import plotting
from ..errors import FitError
from .chinchilla import ChinchillaCheck
from .overlap_law import OverlapLaw
from .width_loss import WidthLossLaw

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


#: Resolution of the PNG next to each fit's JSON.
PNG_DPI = 120


def _figure(ax: Any = None) -> tuple[Any, Any]:
    """(figure, axes) with log-log axes: ``ax`` and its figure, or a new 6.4 × 4.8 figure."""
    fig, (ax,) = plotting.figure_axes(ax, 1, 6.4, 4.8)
    plotting.log_axes(ax)
    return fig, ax


def plot_overlap(law: OverlapLaw, ax: Any = None) -> Any:
    """Mean cos² against m, a line per family with shaded t-band, and the random value 1/m;
    drawn into ``ax`` (a new figure if omitted); returns the figure.

    Example:
        >>> import numpy as np
        >>> m = np.array([256.0, 512, 1024, 2048])
        >>> fig = plot_overlap(OverlapLaw(n_bootstrap=0).fit(m, 30 / m * np.array([1, 1.1, .9, 1])))
        >>> fig.axes[0].get_xscale()
        'log'
    """
    fig, ax = _figure(ax)
    colours = plotting.colours(law.families_)
    fam = np.array(law.family_)
    grid = np.geomspace(law.m_.min() / 1.2, law.m_.max() * 1.2, 100)
    for g in law.families_:
        sel = fam == g
        ax.scatter(law.m_[sel], law.mean_cos2_[sel], color=colours[g], label=g, zorder=3)
        mg = np.geomspace(law.m_[sel].min() / 1.1, law.m_[sel].max() * 1.1, 50)
        lo, hi = law.predict_band(mg, g)
        ax.plot(mg, law.predict(mg, g), color=colours[g], lw=1.2)
        ax.fill_between(mg, lo, hi, color=colours[g], alpha=0.15, lw=0)
    ax.plot(grid, 1.0 / grid, "k--", lw=1, label="random vectors: 1/m")
    pct = round(100 * law.confidence)
    ax.set_title(
        f"mean cos² ∝ m^-s:  s = {law.slope_:.3f} ± {law.slope_se_:.3f}  (shaded: {pct}% band)",
        fontsize=10,
    )
    ax.set_xlabel("width m")
    ax.set_ylabel("mean squared overlap  mean cos²")
    ax.legend(fontsize=8)
    return fig


def loss_above_offset(law: WidthLossLaw) -> np.ndarray:
    """``L − L0(family, corpus)`` of every point of a fitted width-loss law (the data collapse
    of Fig 8b: on the line ``C m^−α``).

    Example:
        >>> from llmgeom.paper.published import paper_implied_losses
        >>> t = paper_implied_losses()
        >>> law = WidthLossLaw().fit(t.m, t.loss, family=t.family, corpus=t.corpus)
        >>> bool(np.allclose(loss_above_offset(law), law.C_ * law.m_ ** -law.alpha_))
        True
    """
    return np.asarray(law.loss_values_ - law.solution_.offsets[law.codes_])


def plot_width_loss(law: WidthLossLaw, ax: Any = None) -> Any:
    """The data collapse ``L − L0`` against m, the line ``C m^−α`` and its shaded interval;
    drawn into ``ax`` (a new figure if omitted); returns the figure.

    The bootstrap band needs the replicates; a law read back with ``from_dict`` has none and
    shows the band of its stored interval pivoting about the geometric-mean width instead.

    Example:
        >>> from llmgeom.paper.published import paper_implied_losses
        >>> t = paper_implied_losses()
        >>> law = WidthLossLaw().fit(t.m, t.loss, family=t.family, corpus=t.corpus)
        >>> len(plot_width_loss(law).axes)
        1
    """
    fig, ax = _figure(ax)
    families = sorted(set(law.family_))
    corpora = sorted(set(law.corpus_))
    colours = plotting.colours(families)
    sol = law.solution_
    excess = loss_above_offset(law)
    fam, cor = np.array(law.family_), np.array(law.corpus_)
    keep = excess > 0
    for g in families:
        for j, c in enumerate(corpora):
            sel = (fam == g) & (cor == c) & keep
            if sel.any():
                ax.scatter(
                    law.m_[sel],
                    excess[sel],
                    color=colours[g],
                    marker=MARKERS[j % 8],
                    s=22,
                    alpha=0.8,
                    zorder=3,
                    label=g if j == 0 else None,
                )
    grid = np.geomspace(law.m_.min() / 1.2, law.m_.max() * 1.2, 100)
    ax.plot(
        grid, law.C_ * grid ** (-law.alpha_), "k-", lw=1.5, label=f"C/m^α, α = {law.alpha_:.3f}"
    )
    (lo_a, hi_a), how = law.alpha_interval()
    samples = law.bootstrap_.samples
    if how == "bootstrap" and samples.shape[1] >= 2:
        curves = samples[:, 1][:, None] * grid[None, :] ** (-samples[:, 0][:, None])
        tail = 50 * (1 - law.confidence)
        lo, hi = np.percentile(curves, [tail, 100 - tail], axis=0)
    else:  # pivot about m_ref, where C and α are least correlated
        m_ref = np.exp(sol.log_m_ref)
        c_ref = law.C_ * m_ref ** (-law.alpha_)
        curves = np.array([c_ref * (grid / m_ref) ** (-a) for a in (lo_a, hi_a)])
        lo, hi = curves.min(axis=0), curves.max(axis=0)
    if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        ax.fill_between(
            grid,
            lo,
            hi,
            color="k",
            alpha=0.12,
            lw=0,
            label=f"{round(100 * law.confidence)}% ({how})",
        )
    for j, c in enumerate(corpora):
        ax.scatter([], [], color="grey", marker=MARKERS[j % 8], s=22, label=c)
    dropped = int((~keep).sum())
    note = f"; {dropped} points with L ≤ L0 not shown" if dropped else ""
    ax.set_title(f"L − L0(family, corpus) = C / m^α  ({law.loss}){note}", fontsize=10)
    ax.set_xlabel("width m")
    ax.set_ylabel("loss above offset  L − L0  (nats/token)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_chinchilla(check: ChinchillaCheck, ax: Any = None) -> Any:
    """Parameters against d_model with the fitted line and its shaded 95 % t-band; drawn into
    ``ax`` (a new figure if omitted); returns the figure. Needs the model table
    (``check.d_model_``, ``check.params_``).

    Example:
        >>> fig = plot_chinchilla(ChinchillaCheck().fit())
        >>> fig.axes[0].get_xlabel()
        'd_model'
    """
    from scipy import stats

    if getattr(check, "d_model_", None) is None or getattr(check, "params_", None) is None:
        raise FitError("the Chinchilla figure needs the model table (params, d_model)")
    fig, ax = _figure(ax)
    x, y = np.log(check.d_model_), np.log(check.params_)
    ax.scatter(check.d_model_, check.params_, color="C0", label="Chinchilla models", zorder=3)
    grid = np.geomspace(check.d_model_.min() / 1.1, check.d_model_.max() * 1.1, 100)
    lg = np.log(grid)
    fit = np.log(check.prefactor_) + check.k_ * lg
    sxx = float(np.sum((x - x.mean()) ** 2))
    resid = y - (np.log(check.prefactor_) + check.k_ * x)
    s2 = float(resid @ resid) / (x.size - 2)
    half = stats.t.ppf(0.975, x.size - 2) * np.sqrt(s2 * (1 / x.size + (lg - x.mean()) ** 2 / sxx))
    ax.plot(
        grid, np.exp(fit), "k-", lw=1.2, label=f"N ∝ d^k, k = {check.k_:.3f} ± {check.k_se_:.3f}"
    )
    ax.fill_between(
        grid, np.exp(fit - half), np.exp(fit + half), color="k", alpha=0.15, lw=0, label="95% band"
    )
    ax.set_title(
        f"α_m = k·α_N = {check.alpha_m_:.2f} ± {check.alpha_m_err_:.2f} ({check.propagation})",
        fontsize=10,
    )
    ax.set_xlabel("d_model")
    ax.set_ylabel("parameters N")
    ax.legend(fontsize=8)
    return fig
