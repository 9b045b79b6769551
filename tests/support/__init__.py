"""Test infrastructure shared by the suite and the benchmarks."""
