"""Test support that ships with the package but is never used by a production run.

* :mod:`ssic_flows.testing.nx27017`: shims that let the integration tests run the production
  path against the ``nx-27017`` wire server. Production code reaches them only through the
  db config's ``mongo_compat: nx27017`` setting (:mod:`ssic_flows.store.mongo_compat`).
* :mod:`ssic_flows.testing.mock_vasp`: atomate2's mock-VASP pattern (inputs checked, a genuine
  run's outputs copied in) for the VASP flow tests.
"""
