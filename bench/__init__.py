"""Benchmarks: they measure and report, and never fail a build on timing.

Every timing is a ratio against a baseline measured in the same run, on the same machine, with
runs interleaved, because absolute times drift on a shared machine. `make bench` runs each script
(`python -m bench.<name>`), each writes its section to `.build/bench/<name>.json`, and
`python -m bench.report` turns them into docs/performance.md.
"""
