"""Example orchestrations this app can start as singletons."""
