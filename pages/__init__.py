"""The Streamlit page scripts, run by `app/main.py`'s navigation (a package so it ships)."""
