"""The contacts APIs, one package each."""
