"""Aliovalent doping by a rule: ``{replace: Sb, with: W, fraction: 0.0625, compensate: {vacancy: Na}}``.

A :class:`DopingRule` says which element is replaced, by what, how many (a fraction of the
replaced element's sites, or an exact count) and how the charge difference is compensated
(vacancies of one species, placed in the dopants' first shell or at random). It is applied
by :func:`apply_doping` through the low-level :func:`~ssic_flows.materials.tools.dope`; the
study's W-doped Na3SbS4 is ``DopingRule("Sb", "W", count=1, vacancy="Na")``.

Example
-------
>>> rule = DopingRule.from_dict({"replace": "Sb", "with": "W", "fraction": 0.0625,
...                              "compensate": {"vacancy": "Na"}})
>>> rule.n_dopants(16), rule.as_dict()["with"]
(1, 'W')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymatgen.core import Structure

from .tools import DopingError, dope, make_rng

__all__ = ["DopingRule", "apply_doping"]


@dataclass(frozen=True)
class DopingRule:
    """Substitute ``replace`` by ``with_``; compensate with ``vacancy`` vacancies.

    Attributes
    ----------
    replace, with_
        Host element and dopant element (``"Sb"``, ``"W"``).
    fraction
        Fraction of the ``replace`` sites doped (rounded to a whole number of sites in the
        built cell; the realised fraction is recorded). Exclusive with ``count``.
    count
        Exact number of dopants per cell.
    vacancy
        Species removed to keep the cell neutral (``"Na"``); None: no compensation.
    placement
        ``"nearest"`` (vacancies in the dopants' first shell) or ``"random"``.
    """

    replace: str
    with_: str
    fraction: float | None = None
    count: int | None = None
    vacancy: str | None = None
    placement: str = "nearest"

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.count is None):
            raise DopingError("a doping rule needs exactly one of fraction (e.g. 0.0625) or count (e.g. 1)")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise DopingError(f"doping fraction must be in (0, 1], got {self.fraction}")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int)
                                       or self.count < 1):
            raise DopingError(f"doping count must be a positive integer, got {self.count!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DopingRule:
        """From the campaign form ``{replace, with, fraction | count, compensate: {vacancy: X}
        | none, placement}``."""
        known = {"replace", "with", "fraction", "count", "compensate", "placement"}
        extra = set(d) - known
        if extra or "replace" not in d or "with" not in d:
            raise DopingError(f"dope needs replace, with and fraction or count (unknown keys: "
                              f"{sorted(extra)}); e.g. {{replace: Sb, with: W, fraction: 0.0625, "
                              "compensate: {vacancy: Na}}")
        comp = d.get("compensate")
        if comp in (None, "none"):
            vac = None
        elif isinstance(comp, Mapping) and set(comp) == {"vacancy"}:
            vac = str(comp["vacancy"])
        else:
            raise DopingError(f"dope.compensate must be {{vacancy: <element>}} or none, got {comp!r}")
        return cls(replace=str(d["replace"]), with_=str(d["with"]), fraction=d.get("fraction"),
                   count=d.get("count"), vacancy=vac, placement=str(d.get("placement", "nearest")))

    def as_dict(self) -> dict[str, Any]:
        """The campaign form (inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {"replace": self.replace, "with": self.with_}
        out.update({"fraction": self.fraction} if self.fraction is not None else {"count": self.count})
        out["compensate"] = {"vacancy": self.vacancy} if self.vacancy else None
        out["placement"] = self.placement
        return out

    def n_dopants(self, n_sites: int) -> int:
        """Dopants in a cell with ``n_sites`` ``replace`` sites.

        Raises
        ------
        DopingError
            If the rule rounds to no dopant, or asks for more than there are sites.
        """
        n = self.count if self.count is not None else int(round(self.fraction * n_sites))
        if n < 1 or n > n_sites:
            what = f"fraction {self.fraction:g} of {n_sites}" if self.fraction is not None else f"{n}"
            raise DopingError(
                f"doping {self.with_} on {self.replace}: {what} {self.replace} sites gives {n} dopants; "
                f"use more atoms (n_atoms) so the cell has at least {int(np.ceil(1 / self.fraction)) if self.fraction else n} "
                f"{self.replace} sites, or a larger fraction")
        return n


def apply_doping(structure: Structure, rule: DopingRule, seed: int | np.random.Generator = 0,
                 charges: Mapping[str, float] | None = None) -> tuple[Structure, dict[str, Any]]:
    """Dope an ordered ``structure`` by ``rule`` (seeded); return it and what was realised.

    Returns
    -------
    (Structure, dict)
        The doped cell (sorted) and ``{"n_dopants", "n_vacancies", "fraction", "rule"}``,
        ``fraction`` being the realised dopant fraction of the ``replace`` sites.
    """
    n_sites = sum(1 for s in structure if s.specie.symbol == rule.replace)
    if n_sites == 0:
        present = sorted({s.specie.symbol for s in structure})
        raise DopingError(f"dope: no {rule.replace} in the structure ({present}); fix dope.replace")
    n = rule.n_dopants(n_sites)
    out = dope(structure, rule.replace, rule.with_, n, seed=make_rng(seed),
               compensate="vacancy" if rule.vacancy else None, vacancy_species=rule.vacancy,
               vacancy_placement=rule.placement, charges=charges)
    return out, {"n_dopants": n, "n_vacancies": len(structure) - len(out), "fraction": n / n_sites,
                 "rule": rule.as_dict()}
