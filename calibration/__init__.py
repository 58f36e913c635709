"""Camera placement check and action-axis calibration for a new robot cell."""
