"""Streamlit panel; talks only to the Serve HTTP API."""
