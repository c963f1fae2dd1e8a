"""Talking to the running prediction API: its HTTP client and the post-promotion reload step."""
