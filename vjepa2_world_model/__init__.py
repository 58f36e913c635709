"""V-JEPA 2 / V-JEPA 2-AC world model in pure PyTorch (no ROS imports)."""

__version__ = "0.1.0"

import os as _os

# On a machine shared by several processes (2 cores: sim, bridge, planner, training),
# OpenMP's default busy-wait makes torch ops 10-25x slower; yield the core instead.
# Must be set before torch initialises OpenMP, hence here. An explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
