"""Data stage: windows, splits, transforms, the prepared cache, the torch dataset, the simulator."""
