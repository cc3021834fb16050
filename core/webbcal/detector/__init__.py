"""Detector-level algorithms of stage 1 (raw ramps to count rates), hook-free: the
instrument knowledge (reference files, which steps a mode runs) stays in the plugins.
So far: :mod:`.jump` and :mod:`.ramp_fit` (issue 14 is in progress)."""
