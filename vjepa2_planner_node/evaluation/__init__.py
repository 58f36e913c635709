"""End-to-end evaluation in the simulated cell (`vjepa2 eval`) and its reports."""
