"""Fixtures for the project tests: a clean tracking environment per test (no tracking variables,
no URI or active experiment left by an earlier test in the worker, cwd in tmp_path)."""

from support.tracking_state import clean_env

__all__ = ["clean_env"]
