"""Pure observables over arrays (numpy/scipy only; never imports jobflow or a database)."""

from ssic_flows.analysis.trajectory import Trajectory, TrajectoryError

__all__ = ["Trajectory", "TrajectoryError"]
