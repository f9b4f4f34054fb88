"""Benchmarks of the Hub (``make bench``). Scripts, not tests: pytest never collects this folder."""
