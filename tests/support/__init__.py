"""Test support: the one HTTP client, server starter, private services and data builders.

Tests and the benchmark import from here; tests/conftest.py only turns these into fixtures.
"""
