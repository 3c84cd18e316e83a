"""ssic-flows: AIMD vs MLMD campaigns for solid-state ion conductors.

Layout: ``materials`` (structure builders), ``engines`` (reference and MLFF adapters),
``makers`` (jobflow Makers), ``flows`` (study and campaign graphs), ``analysis`` (pure
numpy observables; never imports jobflow), ``schemas`` (pydantic output documents),
``store`` (LaunchPad and JobStore setup), ``cli`` (composition only).
"""

__version__ = "0.1.0"
