"""Input frames, readers, causal alignment, targets, public-dataset adapters and the simulator."""
