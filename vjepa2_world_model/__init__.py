"""V-JEPA 2 / V-JEPA 2-AC world model in pure PyTorch (no ROS imports)."""

__version__ = "0.1.0"
