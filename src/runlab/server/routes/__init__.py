"""REST endpoint groups; each module exposes ``ENDPOINTS``, a list of Endpoint values."""
