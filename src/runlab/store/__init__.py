"""Tracking and registry stores: where runs, params, metrics and tags live."""
