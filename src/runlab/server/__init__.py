"""The tracking server: an ASGI app built by :func:`runlab.server.app.build_app`."""
