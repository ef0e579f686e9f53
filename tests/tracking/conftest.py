"""Fixtures for the tracking tests: a clean tracking environment on a fresh database per test."""

from support.tracking_state import clean_env, client, tracking_uri

__all__ = ["clean_env", "client", "tracking_uri"]
