"""LeadApp's benchmark: `python -m bench` (or `make bench`); see docs/benchmark.md."""
