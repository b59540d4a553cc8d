"""The fits need no torch: importing :mod:`llmgeom.fits`, fitting the three laws and saving them
(JSON and PNG) leave ``torch`` out of ``sys.modules`` (a fresh interpreter, as in
``tests/test_package_api.py``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _torch_loaded_after(code: str) -> bool:
    script = "import sys\n" + textwrap.dedent(code) + "\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1] == "True"


def test_importing_the_fits_does_not_load_torch():
    assert not _torch_loaded_after("import llmgeom.fits, llmgeom.fits.io, llmgeom.fits.plots")


def test_fitting_and_saving_the_three_laws_does_not_load_torch(tmp_path):
    overlap = tmp_path / "o.csv"
    overlap.write_text(
        "model,family,m,mean_cos2\n"
        + "".join(f"{f}{m},{f},{m},{a / m}\n" for f, a in (("x", 3), ("y", 5)) for m in (64, 256))
    )
    loss = tmp_path / "l.csv"
    loss.write_text(
        "model,family,corpus,m,loss\n"
        + "".join(
            f"f{m},f,{c},{m},{100 * m**-0.9 + off}\n"
            for c, off in (("a", 2.0), ("b", 2.5))
            for m in (64, 128, 256, 512)
        )
    )
    code = f"""
        from llmgeom.fits import fit_chinchilla, fit_loss, fit_overlap
        out = {str(tmp_path / "out")!r}
        fit_overlap({str(overlap)!r}, n_bootstrap=5).save(out)
        fit_loss({str(loss)!r}, n_bootstrap=5).save(out)
        fit_chinchilla().save(out)
    """
    assert not _torch_loaded_after(code)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "chinchilla_fit.json",
        "chinchilla_fit.png",
        "overlap_fit.json",
        "overlap_fit.png",
        "width_loss_fit_ls.json",
        "width_loss_fit_ls.png",
    ]


def test_the_check_sees_torch_when_it_is_loaded():
    assert _torch_loaded_after("import torch")  # the oracle can fail
