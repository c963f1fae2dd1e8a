"""Docker deployment: the engine, image builds, blue/green rollouts of the prediction API.

The docker SDK is imported inside functions only: `core` imports without it, and a machine with
no engine keeps every other feature (the in-process API hot-swaps models on its own).
"""
