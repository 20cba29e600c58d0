"""Core layer: models, kernels, linearized dynamics, training, data (imports no other layer)."""
