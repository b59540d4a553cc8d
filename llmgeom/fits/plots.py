"""One log-log figure per fit (matplotlib, Agg, no pyplot state), returned as PNG bytes.

Points are coloured by family, the fitted line(s) drawn, the confidence interval shaded.

Example:
    >>> from llmgeom.fits.chinchilla import ChinchillaCheck
    >>> png = plot_chinchilla(ChinchillaCheck().fit())
    >>> png[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import numpy as np

from .. import plotting
from .chinchilla import ChinchillaCheck
from .overlap_law import OverlapLaw
from .width_loss import WidthLossLaw

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _figure():  # -> (Figure, Axes), log-log
    fig, (ax,) = plotting.new_figure(1, 6.4, 4.8)
    plotting.log_axes(ax)
    return fig, ax


def plot_overlap(law: OverlapLaw) -> bytes:
    """Mean cos² against m, a line per family with shaded t-band, and the random value 1/m."""
    fig, ax = _figure()
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
    return plotting.png_bytes(fig, dpi=120)


def plot_width_loss(law: WidthLossLaw) -> bytes:
    """The data collapse ``L − L0`` against m, the line ``C m^−α`` and its shaded interval."""
    fig, ax = _figure()
    families = sorted(set(law.family_))
    corpora = sorted(set(law.corpus_))
    colours = plotting.colours(families)
    sol = law.solution_
    excess = law.loss_values_ - sol.offsets[law.codes_]
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
    if how == "bootstrap":
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
    return plotting.png_bytes(fig, dpi=120)


def plot_chinchilla(check: ChinchillaCheck) -> bytes:
    """Parameters against d_model with the fitted line and its shaded 95 % t-band."""
    from scipy import stats

    fig, ax = _figure()
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
    return plotting.png_bytes(fig, dpi=120)
