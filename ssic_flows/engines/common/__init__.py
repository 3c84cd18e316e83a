"""What every engine shares: checkpointed ASE MD (:mod:`.ase_md`), MD/static job outputs and
input coercion (:mod:`.outputs`) and the external-program runner with timeout and kill
(:mod:`.process`). Nothing here imports an engine package."""
