"""Fixtures for the model tests (flavors too): a clean tracking environment per test, and a
fresh SQLite tracking URI for tests that log models."""

from support.tracking_state import clean_env, client, tracking_uri

__all__ = ["clean_env", "client", "tracking_uri"]
