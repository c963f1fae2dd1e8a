"""Data pipeline: sources, validation, preprocessing, features, versioning."""
