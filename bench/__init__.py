"""Benchmarks of immich-backupd against its baselines: ``make bench`` / ``make bench-full``.

See docs/performance.md for what is measured, the targets, and the figures.
"""
