"""``python -m ssic_flows ...`` = the ``ssic`` command (used by SLURM scripts, whose
``#!/bin/bash -l`` resets PATH: ``<venv python> -m ssic_flows cluster rlaunch ...``)."""

from ssic_flows.cli import main

if __name__ == "__main__":
    main()
