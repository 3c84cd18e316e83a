"""Read a campaign's results back from the JobStore as tidy tables.

Every job document carries ``metadata.{campaign_id, study, material, role, seed,
temperature_K, n_atoms}``; the ``analyze`` job's output is a :class:`StudySummary`.

>>> from ssic_flows.store import open_jobstore                      # doctest: +SKIP
>>> r = Results(open_jobstore())                                     # doctest: +SKIP
>>> r.diffusion(material="agi", role="mlmd")                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["OBSERVABLES", "Results"]

#: Observables ``ssic results --observable`` knows (summary scalar maps + force errors).
OBSERVABLES = ("diffusion", "band_center", "gr_peak", "conductivity", "force_rmse", "verdicts", "jobs")
_KEYS = {"diffusion": "D_cm2_s", "band_center": "band_center_cm-1", "gr_peak": "gr_first_peak_A",
         "conductivity": "sigma_S_cm"}


class Results:
    """Query helper over a connected jobflow ``JobStore``."""

    def __init__(self, store) -> None:
        self.store = store
        self.store.connect()

    # ------------------------------------------------------------------ raw documents
    def _criteria(self, campaign: str | None, material: str | None, role: str | None,
                  study: str | None = None) -> dict:
        c: dict[str, Any] = {}
        if campaign:
            c["metadata.campaign_id"] = campaign
        if material:
            c["metadata.material"] = material
        if role:
            c["metadata.role"] = role
        if study:
            c["metadata.study"] = study
        return c

    def jobs(self, campaign: str | None = None, material: str | None = None,
             role: str | None = None) -> pd.DataFrame:
        """One row per stored job output: name, role, study, seed, T, n_atoms, completed_at."""
        rows = []
        for d in self.store.query(self._criteria(campaign, material, role),
                                  properties=["uuid", "index", "name", "metadata", "completed_at"]):
            m = d.get("metadata") or {}
            rows.append({"name": d.get("name"), "uuid": d.get("uuid"), "index": d.get("index"),
                         "campaign_id": m.get("campaign_id"), "study": m.get("study"),
                         "material": m.get("material"), "role": m.get("role"),
                         "seed": m.get("seed"), "temperature_K": m.get("temperature_K"),
                         "n_atoms": m.get("n_atoms"), "completed_at": d.get("completed_at")})
        return pd.DataFrame(rows)

    def summaries(self, campaign: str | None = None, material: str | None = None,
                  study: str | None = None) -> list[dict]:
        """The ``analyze`` outputs (StudySummary dicts, curves not loaded), newest index."""
        out: dict[str, dict] = {}
        for d in self.store.query(self._criteria(campaign, material, "analyze", study),
                                  properties=["uuid", "index", "output", "metadata"],
                                  sort={"index": 1}):
            out[d["uuid"]] = d["output"]
        return list(out.values())

    def curves(self, summary: dict) -> dict:
        """Load a summary's curves (documents and ensembles) from the data store.

        The summary's ``curves`` is a data-store reference (``blob_uuid``); the job that owns
        it is read back with jobflow's ``JobStore.get_output(load=True)``. ``{}`` if the
        reference's job is gone.
        """
        ref = summary.get("curves")
        if isinstance(ref, dict) and "blob_uuid" in ref:
            doc = self.store.query_one({"output.curves.blob_uuid": ref["blob_uuid"]},
                                       properties=["uuid", "index"])
            if doc is None:
                return {}
            out = self.store.get_output(doc["uuid"], which=doc["index"], load=True)
            return (out or {}).get("curves") or {}
        return ref or {}

    # ------------------------------------------------------------------ tidy tables
    def scalar(self, key: str, campaign: str | None = None, material: str | None = None,
               role: str | None = None) -> pd.DataFrame:
        """Rows ``study, material, role, name, mean, std, sem, n`` for a summary scalar map."""
        rows = []
        for s in self.summaries(campaign, material):
            for r, table in (s.get("scalars") or {}).items():
                if role and r != role:
                    continue
                for name, st in (table.get(key) or {}).items():
                    rows.append({"campaign_id": s.get("campaign_id"), "study": s.get("study"),
                                 "material": s.get("material"), "temperature_K": s.get("temperature_K"),
                                 "role": r, "name": name, **st})
        return pd.DataFrame(rows)

    def diffusion(self, campaign: str | None = None, material: str | None = None,
                  role: str | None = None) -> pd.DataFrame:
        """D (cm²/s) per study, role and species: the fit over the diffusive regime and the
        study's eq. 7 (``D_eq7_cm2_s``), over the full runs after equilibration.

        Where the runs' MSD is not diffusive, D is missing (None/NaN) and ``D_status`` reads
        "not determined (<reason>)"; otherwise ``D_status`` is "determined".
        """
        df = self.scalar("D_cm2_s", campaign, material, role)
        if df.empty:
            return df
        eq7 = self.scalar("D_final_cm2_s", campaign, material, role)
        keys = ["study", "role", "name"]
        if not eq7.empty:
            df = df.merge(eq7[keys + ["mean"]].rename(columns={"mean": "D_eq7_cm2_s"}), on=keys, how="left")
        status = df["status"] if "status" in df else pd.Series([None] * len(df), index=df.index)
        df["D_status"] = [f"not determined ({s})" if isinstance(s, str) and s else "determined"
                          for s in status]
        return df.drop(columns=[c for c in ("status",) if c in df]).rename(
            columns={"name": "species", "mean": "D_cm2_s", "std": "D_std_cm2_s",
                     "sem": "D_sem_cm2_s"})

    def force_rmse(self, campaign: str | None = None, material: str | None = None) -> pd.DataFrame:
        """Per-element force RMSE/MAE (meV/Å) of each study's MLFF vs the reference."""
        rows = []
        for s in self.summaries(campaign, material):
            for el, v in (s.get("force_rmse_meV_A") or {}).items():
                rows.append({"study": s.get("study"), "material": s.get("material"), "element": el,
                             "rmse_meV_A": v, "mae_meV_A": (s.get("force_mae_meV_A") or {}).get(el),
                             "ref_force_std_meV_A": (s.get("ref_force_std_meV_A") or {}).get(el)})
        return pd.DataFrame(rows)

    def verdicts(self, campaign: str | None = None, material: str | None = None) -> pd.DataFrame:
        """One row per compared observable: comparison, observable, value (|difference|),
        noise_floor, uncertainty, tolerance, p_value, p_holm, noise_source and verdict
        ("agrees" within tolerance | "differs" | "inconclusive" | "not determined", with reason);
        the procedure: :mod:`ssic_flows.analysis.compare`."""
        rows = []
        for s in self.summaries(campaign, material):
            for label, items in (s.get("comparisons") or {}).items():
                for c in items:
                    rows.append({"study": s.get("study"), "comparison": label, **c})
        return pd.DataFrame(rows)

    def table(self, observable: str, campaign: str | None = None,
              material: str | None = None) -> pd.DataFrame:
        """Dispatch by observable name (see :data:`OBSERVABLES`)."""
        if observable not in OBSERVABLES:
            raise ValueError(f"unknown observable {observable!r}; choose one of {list(OBSERVABLES)}")
        if observable == "jobs":
            return self.jobs(campaign, material)
        if observable == "force_rmse":
            return self.force_rmse(campaign, material)
        if observable == "verdicts":
            return self.verdicts(campaign, material)
        if observable == "diffusion":
            return self.diffusion(campaign, material)
        return self.scalar(_KEYS[observable], campaign, material)
