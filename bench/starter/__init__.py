"""``python -m bench starter``: our HTTP starter against the documentation's sample, on one
embedded Durable backend with Azure-like store latency, in one run, printed as ratios.

* ``_backend.py`` — the Durable backend in its own process, counting the requests it serves
* ``_callers.py`` — the two contenders and the ways of calling them (one process or several)
* ``_run.py``     — the scenarios, the tables and the targets
"""
