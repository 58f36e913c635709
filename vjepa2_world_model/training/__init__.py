"""Offline training: V-JEPA encoder pretraining and the action-conditioned predictor."""
