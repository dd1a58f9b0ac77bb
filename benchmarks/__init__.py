"""Benchmarks and the honest query counter (docs/performance.md). Not an app: nothing in the product imports it."""
