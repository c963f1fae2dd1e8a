"""What the pages show: one module per page builds its tables, figures and flows.

A page in `pages/` lays out widgets and calls its view module; the frame and figure builders
here are plain functions, unit-tested on small inputs without a browser.
"""
