"""Embedded CHGNet reference: really runs (MD + single points), documents say stand-in."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("chgnet")
from ase.build import bulk  # noqa: E402
from jobflow import Flow, JobStore, run_locally  # noqa: E402
from maggma.stores import MemoryStore  # noqa: E402
from monty.json import MontyDecoder  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402

from ssic_flows.analysis.trajectory import Trajectory  # noqa: E402
from ssic_flows.engines.base import EngineError, MDSettings  # noqa: E402
from ssic_flows.engines.registry import get_reference_engine  # noqa: E402
from ssic_flows.schemas import MDOutput, StaticOutput  # noqa: E402


def _store():
    return JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})


def test_chgnet_md_then_static_in_a_flow(tmp_path, monkeypatch):
    monkeypatch.setenv("SSIC_HOME", str(tmp_path))
    eng = get_reference_engine("embedded")
    assert eng.stands_in_for_dft and eng.name == "chgnet"
    nacl = AseAtomsAdaptor.get_structure(bulk("NaCl", "rocksalt", a=5.64, cubic=True))  # 8 atoms
    md = eng.md_maker(MDSettings(temperature_K=600, timestep_fs=2, n_steps=6, save_every=2,
                                 seed=1, checkpoint_every=2)).make(nacl)
    st = eng.static_maker().make(md.output.trajectory)
    store = _store()
    run_locally(Flow([md, st]), store=store, create_folders=True, ensure_success=True)
    mdo = MontyDecoder().process_decoded(store.get_output(md.uuid, load=True))
    assert isinstance(mdo, MDOutput)  # decodes back into the schema class
    so = MontyDecoder().process_decoded(store.get_output(st.uuid, load=True))
    assert isinstance(so, StaticOutput) and isinstance(so.forces, Trajectory)
    for doc in (mdo, so):
        assert doc.provenance.stands_in_for_dft and doc.provenance.engine == "chgnet"
        assert doc.provenance.engine_version.startswith("chgnet 0.4")
        assert "torch_version" in doc.provenance.settings
    tr = mdo.trajectory
    assert tr.steps.tolist() == [0, 2, 4, 6] and tr.metadata["stands_in_for_dft"]
    assert np.isfinite(tr.forces).all() and np.isfinite(tr.energies).all()
    assert np.abs(tr.forces).max() > 1e-3  # thermal displacements give non-zero forces
    # single points at the MD geometries reproduce the forces the MD stored
    assert so.n_structures == 4 and so.forces.n_frames == 4
    np.testing.assert_allclose(so.forces.forces, tr.forces, atol=1e-4)
    np.testing.assert_allclose(so.energies_eV, tr.energies, atol=1e-4)
    # the trajectories went to the data store, not the main document
    doc = store.docs_store.query_one({"uuid": md.uuid})
    assert doc["output"]["trajectory"]["store"] == "data"
    assert doc["output"]["@class"] == "MDOutput"
    assert store.additional_stores["data"].count() == 2
    # routed by key (@job(data=MDOutput.DATA_FIELDS)) from the returned document itself, in
    # the Trajectory's own MSON form, so it decodes back into a Trajectory
    blob = store.additional_stores["data"].query_one({"blob_uuid": doc["output"]["trajectory"]["blob_uuid"]})
    assert blob["data"]["@class"] == "Trajectory" and MDOutput.DATA_FIELDS == ["trajectory"]
    # a checkpoint was written under $SSIC_HOME/checkpoints/<uuid>_<index>
    assert (tmp_path / "checkpoints" / f"{md.uuid}_1" / "md_checkpoint.npz").exists()


def test_bad_input():
    eng = get_reference_engine("chgnet")
    with pytest.raises(EngineError, match="torch_threads"):
        get_reference_engine("chgnet", torch_threads=0)
    with pytest.raises(EngineError, match="Trajectory"):
        run_locally(eng.static_maker().make(np.zeros(3)), store=_store(),
                    ensure_success=True, raise_immediately=True)
