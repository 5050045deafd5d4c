"""Revisor's benchmarks: `make bench` (`python -m bench.run`) runs every module and writes
`bench/results/latest.md` (committed) and `latest.json` (git-ignored). Not part of the tests."""
