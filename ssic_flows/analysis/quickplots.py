"""Quick-look PNGs of an analysis document (matplotlib Agg; plotting only, no computing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_analysis"]


def _fig():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(5.5, 4.0), dpi=110)


def _save(plt, fig, path: Path, out: list[Path]) -> None:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    out.append(path)


def plot_analysis(doc: dict, outdir: str | Path) -> list[Path]:
    """Write one PNG per observable present in ``doc`` (from ``analyze_trajectory``).

    Parameters
    ----------
    doc : analysis document.
    outdir : folder (created).

    Returns
    -------
    Paths written: ``msd.png``, ``rdf.png``, ``vdos.png``, ``vanhove_<species>.png``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    if "msd" in doc:
        plt, fig, ax = _fig()
        t_ps = np.asarray(doc["msd"]["t_fs"]) / 1000.0
        for s, y in doc["msd"]["msd_A2"].items():
            D = doc["msd"]["D_fit_cm2_s"][s]
            ax.plot(t_ps, y, label=f"{s}  D = {D:.2e} cm²/s" if D is not None
                    else f"{s}  D not determined ({doc['msd']['D_regime'][s]})")
        ax.set(xlabel="t (ps)", ylabel="MSD (Å²)", title="Mean-squared displacement")
        ax.legend(fontsize=8)
        _save(plt, fig, outdir / "msd.png", out)
    if "rdf" in doc:
        plt, fig, ax = _fig()
        r = doc["rdf"]["r_A"]
        for k, g in doc["rdf"]["g"].items():
            ax.plot(r, g, label=k, lw=1)
        ax.axhline(1.0, color="k", lw=0.5, ls=":")
        ax.set(xlabel="r (Å)", ylabel="g(r)", title="Partial pair correlation")
        ax.legend(fontsize=8)
        _save(plt, fig, outdir / "rdf.png", out)
    if "vdos" in doc:
        plt, fig, ax = _fig()
        f = np.asarray(doc["vdos"]["freq_cm-1"])
        top = 0.0
        for s, y in doc["vdos"]["vdos_smoothed"].items():
            y = np.asarray(y)
            c = doc["vdos"]["band_center_cm-1"].get(s)
            ax.plot(f, y, label=f"{s}" + (f"  centre {c:.1f} cm⁻¹" if c is not None else ""), lw=1)
            tot = np.cumsum(np.clip(y, 0, None))
            if tot[-1] > 0:
                top = max(top, f[min(np.searchsorted(tot, 0.995 * tot[-1]), f.size - 1)])
        if top > 0:
            ax.set_xlim(0, 1.1 * top)
        ax.set(xlabel="wavenumber (cm⁻¹)", ylabel=f"VDOS ({doc['vdos']['vdos_units']})",
               title="Vibrational density of states")
        ax.legend(fontsize=8)
        _save(plt, fig, outdir / "vdos.png", out)
    for s, vh in (doc.get("vanhove") or {}).items():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        parts = [("Gs_A-3", "4πr²Gs (Å⁻¹)")] + ([("Gd", "Gd")] if vh.get("Gd") is not None else [])
        fig, axes = plt.subplots(1, len(parts), figsize=(5.0 * len(parts), 4.0), dpi=110, squeeze=False)
        lags_ps = np.asarray(vh["lags_fs"]) / 1000.0
        for ax, (key, label) in zip(axes[0], parts):
            z = np.asarray(vh[key])
            r = np.asarray(vh["r_self_A"] if key == "Gs_A-3" else vh["r_A"])  # Gs: its own axis
            if key == "Gs_A-3":
                z = z * 4 * np.pi * r ** 2
            im = ax.pcolormesh(r, lags_ps, z, shading="nearest", cmap="viridis",
                               vmax=np.percentile(z, 99) if z.size else None)
            fig.colorbar(im, ax=ax, label=label)
            ax.set(xlabel="r (Å)", ylabel="Δt (ps)", title=f"{key.split('_')[0]} {s}")
        _save(plt, fig, outdir / f"vanhove_{s}.png", out)
    return out
