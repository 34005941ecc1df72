"""Example orchestrations and functions this app can run: registered by function_app.py only
when the app setting ``SINGLETON_EXAMPLES`` is true (``./dev run`` sets it)."""
