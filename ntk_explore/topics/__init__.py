"""Topic layer: one module per question a notebook asks, built from core calls only."""
