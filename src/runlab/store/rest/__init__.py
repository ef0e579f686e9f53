"""The client-side store that speaks MLflow's REST protocol (to runlab or MLflow servers)."""
