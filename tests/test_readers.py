"""Readers: every format on a file written by its own library (or by hand), npz round trip,
and bad-file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssic_flows.analysis.readers import (CP2K_FRC_TO_EV_PER_A, CP2K_VEL_TO_A_PER_FS, HARTREE_EV,
                                         detect_format, read_cp2k, read_cp2k_ener,
                                         read_cp2k_xyz, read_trajectory)
from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

DATA = Path(__file__).parent / "data"


def _traj(nf: int = 5, seed: int = 0) -> Trajectory:
    rng = np.random.default_rng(seed)
    L = 6.0
    pos = rng.random((nf, 4, 3)) * L
    vel = rng.normal(scale=0.01, size=(nf, 4, 3))
    frc = rng.normal(size=(nf, 4, 3))
    return Trajectory(["Li", "Li", "S", "P"], pos, np.eye(3) * L, 2.0, velocities=vel, forces=frc,
                      energies=-rng.random(nf))


def test_extxyz_and_ase_traj_roundtrip(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    t = _traj()
    frames = []
    for f in range(t.n_frames):
        a = t.to_ase(f)
        a.calc = SinglePointCalculator(a, energy=float(t.energies[f]), forces=t.forces[f])
        a.info["time_fs"] = 2.0 * f
        frames.append(a)
    for name, fmt in (("t.extxyz", "extxyz"), ("t.traj", "ase")):
        p = tmp_path / name
        write(p, frames)
        assert detect_format(p) == fmt
        r = read_trajectory(p)
        assert r.species == t.species and r.timestep_fs == 2.0
        assert np.allclose(r.positions, t.positions, atol=1e-6)
        assert np.allclose(r.velocities, t.velocities, rtol=1e-6, atol=1e-9)  # Å/fs
        assert np.allclose(r.forces, t.forces, atol=1e-6)
        assert np.allclose(r.energies, t.energies, atol=1e-6)
        assert np.allclose(r.cells, t.cells)


def test_extxyz_without_time_needs_timestep(tmp_path):
    from ase.io import write

    t = _traj().replace(velocities=None)
    p = tmp_path / "plain.xyz"
    write(p, [t.to_ase(f) for f in range(t.n_frames)], format="extxyz")
    with pytest.raises(TrajectoryError, match="timestep_fs"):
        read_trajectory(p)
    r = read_trajectory(p, timestep_fs=1.5)
    assert r.timestep_fs == 1.5 and r.velocities is None  # never invented


def test_xdatcar(tmp_path):
    from pymatgen.io.vasp.outputs import Xdatcar

    t = _traj(nf=4)
    structs = [t.to_structure(f) for f in range(t.n_frames)]
    p = tmp_path / "XDATCAR"
    from pymatgen.io.vasp.inputs import Poscar

    # write by hand through pymatgen's Poscar blocks (Xdatcar has no writer for structures)
    lines = []
    for i, s in enumerate(structs):
        block = Poscar(s).get_str(direct=True).splitlines()
        if i == 0:
            lines += block[:7]
        lines.append(f"Direct configuration= {i + 1:5d}")
        lines += block[8:8 + len(s)]
    p.write_text("\n".join(lines) + "\n")
    assert len(Xdatcar(str(p)).structures) == 4
    with pytest.raises(TrajectoryError, match="timestep_fs"):
        read_trajectory(p)
    r = read_trajectory(p, timestep_fs=2.0)
    frac_r, frac_t = r.fractional() % 1.0, t.fractional() % 1.0
    d = frac_r - frac_t
    assert np.allclose(d - np.round(d), 0, atol=1e-6)
    assert sorted(r.species) == sorted(t.species)


def vasprun_xml(frames, cell, species, potim=2.0, tebeg=500.0):
    """Minimal MD vasprun.xml (IBRION=0) with positions, forces and energies."""
    from collections import Counter
    def varray(name, rows):
        return f'<varray name="{name}">\n' + "".join(
            "<v>" + " ".join(f"{x:.8f}" for x in r) + "</v>\n" for r in rows) + "</varray>\n"
    def struct(frac, tag=""):
        return (f'<structure{tag}>\n<crystal>\n' + varray("basis", cell) +
                f'<i name="volume">{abs(np.linalg.det(cell)):.8f}</i>\n' +
                varray("rec_basis", np.linalg.inv(cell).T) + '</crystal>\n' +
                varray("positions", frac) + '</structure>\n')
    order = list(dict.fromkeys(species))
    cnt = Counter(species)
    atoms = "".join(f"<rc><c>{s}</c><c>{order.index(s)+1}</c></rc>\n" for s in species)
    types = "".join(f"<rc><c>{cnt[s]}</c><c>{s}</c><c>1.0</c><c>1.0</c><c>PAW_PBE {s} 01Jan2000</c></rc>\n" for s in order)
    x = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n',
         '<generator>\n<i name="program" type="string">vasp </i>\n<i name="version" type="string">6.4.2 </i>\n</generator>\n',
         f'<incar>\n<i type="int" name="IBRION">0</i>\n<i name="POTIM">{potim}</i>\n<i name="TEBEG">{tebeg}</i>\n</incar>\n',
         f'<parameters>\n<separator name="electronic">\n<i type="int" name="NELM">60</i>\n<i name="EDIFF">1e-5</i>\n</separator>\n<separator name="ionic">\n<i type="int" name="IBRION">0</i>\n<i name="POTIM">{potim}</i>\n<i name="TEBEG">{tebeg}</i>\n</separator>\n</parameters>\n',
         f'<atominfo>\n<atoms>{len(species)}</atoms>\n<types>{len(order)}</types>\n<array name="atoms">\n<dimension dim="1">ion</dimension>\n<field type="string">element</field>\n<field type="int">atomtype</field>\n<set>\n{atoms}</set>\n</array>\n'
         f'<array name="atomtypes">\n<dimension dim="1">type</dimension>\n<field type="int">atomspertype</field>\n<field type="string">element</field>\n<field>mass</field>\n<field>valence</field>\n<field type="string">pseudopotential</field>\n<set>\n{types}</set>\n</array>\n</atominfo>\n',
         struct(frames[0][0], ' name="initialpos"')]
    for pos, frc, e in frames:
        x.append('<calculation>\n' + struct(pos) + varray("forces", frc) +
                 f'<energy>\n<i name="e_fr_energy">{e:.8f}</i>\n<i name="e_wo_entrp">{e:.8f}</i>\n<i name="e_0_energy">{e:.8f}</i>\n</energy>\n</calculation>\n')
    x.append(struct(frames[-1][0], ' name="finalpos"') + '</modeling>\n')
    return "".join(x)


def test_vasprun_genuine_vasp_output_cross_checked_with_ase():
    """A real VASP 6.3.0 vasprun.xml (C2 relaxation step with PSTRESS = 1 kbar), shipped in the
    ASE wheel as ``ase/test/testdata/vasp/vasprun_pstress.xml`` (ASE's own test data, written by
    VASP according to its <generator> header). Our pymatgen-based reader must agree with ASE's
    independent parser, including the PV term VASP adds to the energies in calculation/energy."""
    import ase
    from ase.io import read

    path = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "vasprun_pstress.xml"
    assert "<i name=\"program\" type=\"string\">vasp" in path.read_text(errors="replace")[:400]
    with pytest.raises(TrajectoryError, match="no time information; pass timestep_fs"):
        read_trajectory(path)  # a relaxation (IBRION != 0): no MD time step in the file
    r = read_trajectory(path, timestep_fs=1.0)
    ref = read(str(path), index=":")
    assert r.species == ref[0].get_chemical_symbols() == ["C", "C"]
    assert r.n_frames == len(ref)
    assert np.allclose(r.positions, [a.positions for a in ref], atol=1e-8)
    assert np.allclose(r.cells, [a.cell.array for a in ref], atol=1e-8)
    assert np.allclose(r.forces, [a.get_forces() for a in ref], atol=1e-8)
    # free energy (force-consistent) without PSTRESS·V: -20.23985977 - 6.2415e-4 * 11.3748
    assert np.allclose(r.energies, [a.get_potential_energy(force_consistent=True) for a in ref],
                       atol=1e-7)
    assert r.energies[0] == pytest.approx(-20.2469594, abs=1e-6)
    assert "PSTRESS" in r.metadata["energy"]


def test_vasp_engine_reads_the_same_genuine_vasprun(tmp_path):
    """The VASP engine adapter parses run directories with the same function (gzipped too)."""
    import gzip
    import ase

    from ssic_flows.engines.vasp.parsing import read_vasprun_trajectory

    src = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "vasprun_pstress.xml"
    (tmp_path / "vasprun.xml.gz").write_bytes(gzip.compress(src.read_bytes()))
    t = read_vasprun_trajectory(tmp_path, timestep_fs=1.0)
    r = read_trajectory(src, timestep_fs=1.0)
    assert np.allclose(t.energies, r.energies) and np.allclose(t.forces, r.forces)
    assert t.energies[0] == pytest.approx(-20.2469594, abs=1e-6)


def test_vasprun_potim_forces_energies(tmp_path):
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 5.0
    frames = [(rng.random((3, 3)), rng.normal(size=(3, 3)), -10.0 - i) for i in range(4)]
    p = tmp_path / "vasprun.xml"
    p.write_text(vasprun_xml(frames, cell, ["Ag", "I", "Ag"], potim=2.0, tebeg=500.0))
    r = read_trajectory(p)
    assert r.timestep_fs == 2.0 and r.n_frames == 4
    assert r.species == ["Ag", "I", "Ag"]
    assert np.allclose(r.forces, [f for _, f, _ in frames])
    assert np.allclose(r.energies, [-10.0, -11.0, -12.0, -13.0])
    assert np.allclose(r.positions, [x @ cell for x, _, _ in frames])
    assert r.metadata["temperature_K"] == 500.0
    with pytest.raises(TrajectoryError, match="timestep_fs=3.0"):
        read_trajectory(p, timestep_fs=3.0)


def test_cp2k_siblings_units_and_cell():
    p = DATA / "cp2k" / "agi-pos-1.xyz"
    assert detect_format(p) == "cp2k"
    r = read_trajectory(p)
    assert r.species == ["Ag", "I", "Ag"]
    assert r.timestep_fs == 5.0
    assert list(r.steps) == [0, 10, 20]
    assert np.allclose(r.positions[1, 2], [0.05, 0.1, 0.1])
    assert np.allclose(r.energies, np.array([-100.1, -100.2, -100.3]) * HARTREE_EV)
    # bohr/au_time -> Å/fs: 1 bohr/au_t = 0.529177210903 Å / 0.024188843265857 fs = 21.8769 Å/fs
    assert CP2K_VEL_TO_A_PER_FS == pytest.approx(21.876912, rel=1e-6)
    assert r.velocities[2, 1, 1] == pytest.approx(-4e-3 * 21.876912, rel=1e-6)
    # Hartree/bohr -> eV/Å = 51.42208619
    assert CP2K_FRC_TO_EV_PER_A == pytest.approx(51.422086, rel=1e-6)
    assert r.forces[1, 2, 2] == pytest.approx(-0.04 * 51.422086, rel=1e-6)
    assert np.allclose(np.diag(r.cells[2]), 5.02)
    # wrapped Ag (x: 4.9 in a 5.00 Å box -> 0.05 in a 5.01 Å box) unwraps across the boundary:
    # fractional 0.98 -> 1 + 0.05/5.01, mapped with the 5.01 Å cell
    u = r.unwrapped()
    assert u[1, 2, 0] - u[0, 2, 0] == pytest.approx((1 + 0.05 / 5.01) * 5.01 - 4.9, abs=1e-9)


def test_cp2k_without_cell(tmp_path):
    src = DATA / "cp2k" / "agi-pos-1.xyz"
    p = tmp_path / "x-pos-1.xyz"
    p.write_text(src.read_text())
    with pytest.raises(TrajectoryError, match="cell="):
        read_trajectory(p)
    r = read_trajectory(p, cell=np.eye(3) * 5.0)
    assert r.velocities is None and r.forces is None and np.allclose(r.volumes_A3, 125.0)


def test_cp2k_genuine_run_energies_from_ener_else_comments(tmp_path):
    """Genuine CP2K 2023.1 output (killed and resumed): the one parser behind ssic analyze and
    the CP2K engine. Energies from the .ener file when present, else the xyz comments."""
    import shutil

    d = DATA / "cp2k" / "agi4_md_resumed"
    r = read_trajectory(d / "ssic-pos-1.xyz")
    ener = read_cp2k_ener(d / "ssic-1.ener")
    assert list(r.steps) == [0, 1, 2, 3, 4] and r.timestep_fs == 2.0  # step 3 once
    assert np.allclose(r.energies, [ener[int(s)]["potential_eV"] for s in r.steps])
    assert r.forces is not None and r.velocities is not None
    assert "truncated_last_frame" not in r.metadata
    c = tmp_path / "noener"
    shutil.copytree(d, c)
    (c / "ssic-1.ener").unlink()
    r2 = read_trajectory(c / "ssic-pos-1.xyz")
    xyz = read_cp2k_xyz(c / "ssic-pos-1.xyz")
    assert r2.energies[3] == pytest.approx(xyz.energies_Ha[4] * HARTREE_EV)  # later step-3 copy
    assert np.allclose(r2.energies, r.energies, atol=1e-6)
    (c / "ssic-1.cell").unlink()
    with pytest.raises(TrajectoryError, match="cell="):
        read_trajectory(c / "ssic-pos-1.xyz")
    r3 = read_trajectory(c / "ssic-pos-1.xyz", cell=np.eye(3) * 5.07)
    assert np.allclose(r3.positions, r.positions) and np.allclose(r3.volumes_A3, 5.07**3)


def test_cp2k_genuine_truncated_last_frame_raise_or_drop(tmp_path):
    import shutil

    c = tmp_path / "killed"
    shutil.copytree(DATA / "cp2k" / "agi4_md_resumed", c)
    for kind in ("pos", "frc"):
        lines = (c / f"ssic-{kind}-1.xyz").read_text().splitlines()
        (c / f"ssic-{kind}-1.xyz").write_text("\n".join(lines[:-1]) + "\n")  # killed mid-write
    with pytest.raises(TrajectoryError, match="cut short"):  # ssic analyze: default
        read_trajectory(c / "ssic-pos-1.xyz")
    with pytest.warns(UserWarning, match="pos/frc"):
        r = read_cp2k(c / "ssic-pos-1.xyz", truncated="drop")
    assert list(r.steps) == [0, 1, 2, 3] and r.metadata["truncated_last_frame"] is True
    with pytest.raises(ValueError, match="truncated"):
        read_cp2k_xyz(c / "ssic-pos-1.xyz", truncated="ignore")


def test_npz_roundtrip(tmp_path):
    t = _traj()
    p = t.save(tmp_path / "t.npz")
    r = read_trajectory(p)
    for k in ("positions", "cells", "velocities", "forces", "energies", "steps"):
        assert np.array_equal(getattr(r, k), getattr(t, k)), k
    assert r.species == t.species and r.timestep_fs == t.timestep_fs


def test_bad_files(tmp_path):
    with pytest.raises(TrajectoryError, match="no such file"):
        read_trajectory(tmp_path / "missing.xyz")
    bad = tmp_path / "broken-pos-1.xyz"
    bad.write_text("3\n i = 0, time = 0.0\n Ag 0 0 0\n")
    with pytest.raises(TrajectoryError, match="broken-pos-1.xyz.*whole number"):
        read_trajectory(bad, cell=np.eye(3))
    junk = tmp_path / "vasprun.xml"
    junk.write_text("<modeling><oops")
    with pytest.raises(TrajectoryError, match="vasprun.xml: not a readable vasprun"):
        read_trajectory(junk)
    npz = tmp_path / "x.npz"
    npz.write_bytes(b"not a zip")
    with pytest.raises(TrajectoryError, match="x.npz"):
        read_trajectory(npz)
    odd = tmp_path / "data.bin"
    odd.write_text("")
    with pytest.raises(TrajectoryError, match="format="):
        read_trajectory(odd)
    xyz = tmp_path / "g.xyz"
    xyz.write_text("2\ncomment\nH 0 0 0\nH 0 0 1\n")
    with pytest.raises(TrajectoryError, match="g.xyz"):
        read_trajectory(xyz, timestep_fs=1.0)
