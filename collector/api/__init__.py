"""The collector's HTTP API (FastAPI). Routes are in routes/, shared dependencies in deps.py."""
