"""The web UI: server-rendered Jinja2 pages, hand-written CSS and JS modules, bundled Plotly.js.

Pages read through the same store methods as the REST API; actions (create, rename, delete…)
are small JS modules that call that API. :func:`runlab.server.ui.pages.routes` gives the routes
the app factory adds.
"""
