"""An app whose import fails, to check the host's error message."""

import azure.functions as func

app = func.FunctionApp()

raise ImportError("this app is broken on purpose")
