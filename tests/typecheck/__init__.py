"""Files mypy --strict checks in ``./dev lint`` (pyproject ``[tool.mypy] files``): the public
API's types as a user's code meets them. Each check is an assignment to a typed variable, or
a line that must be an error, marked ``# type: ignore[code]``: mypy's ``warn_unused_ignores``
(part of --strict) fails the lint when such a line stops being an error."""
