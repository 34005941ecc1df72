"""Import function_app.py and index its functions once, through azure-functions' own API.

Like the Python worker: the app's folder goes on ``sys.path``, the module is imported, the one
``FunctionRegister`` (``func.FunctionApp``, ``df.DFApp``...) in it is found and
``app.get_functions()`` is called exactly once (a second call raises on duplicate names).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

from devhost._errors import AppLoadError

logger = logging.getLogger(__name__)

#: What the worker imports in the app's folder (the v2 programming model's script file).
APP_FILE = "function_app.py"
_WHAT_TO_PASS = (
    "run python -m devhost in your Function App's folder, or pass --app FOLDER "
    "(or FILE.py, MODULE, MODULE:ATTRIBUTE)"
)

DURABLE_TRIGGER_TYPES = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})


@dataclass(frozen=True)
class IndexedFunction:
    """One indexed function: its azure-functions object and its bindings as the host sees them."""

    name: str
    function: Any  # azure.functions.decorators.function_app.Function (untyped upstream)
    bindings: tuple[dict[str, Any], ...]

    @property
    def trigger(self) -> dict[str, Any]:
        trigger_name = self.function.get_trigger().name
        return next(b for b in self.bindings if b.get("name") == trigger_name)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def user_function(self) -> Callable[..., Any]:
        user_function: Callable[..., Any] = self.function.get_user_function()
        return user_function

    @property
    def is_durable(self) -> bool:
        return self.trigger_type in DURABLE_TRIGGER_TYPES


@dataclass(frozen=True)
class LoadedApp:
    """The imported module, its app object, where it lives and its indexed functions."""

    module: ModuleType
    app: func.FunctionRegister
    root: Path
    functions: tuple[IndexedFunction, ...]
    raw_functions: tuple[Any, ...]  # exactly what app.get_functions() returned


def _import_file(path: Path) -> ModuleType:
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered under its plain name, as the worker imports it; a fresh module each load so
    # two in-process hosts never share one app object (get_functions() runs once per app).
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _find_app(module: ModuleType, attribute: str | None) -> func.FunctionRegister:
    if attribute is not None:
        app = getattr(module, attribute, None)
        if not isinstance(app, func.FunctionRegister):
            raise AppLoadError(f"{module.__name__}.{attribute} is not a FunctionApp")
        return app
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        found = "no" if not apps else f"{len(apps)}"
        raise AppLoadError(
            f"{module.__name__} defines {found} FunctionApp objects; exactly one is required "
            "(or name it: --app module:attribute)"
        )
    return apps[0]


def resolve_app_reference(reference: str, cwd: Path) -> tuple[Path | None, str, str | None]:
    """Split a folder, ``path.py``, ``module`` or ``module:attribute`` into (file, module,
    attribute); ``file`` is None for a module.

    A folder means its ``function_app.py``, as ``func start`` runs the app in its folder. A
    missing file or a folder without one is an ``AppLoadError`` saying what to pass instead.
    """
    target, _, attribute = reference.partition(":")
    candidate = (cwd / target).resolve()
    if candidate.is_dir():
        if (candidate / APP_FILE).is_file():
            return candidate / APP_FILE, Path(APP_FILE).stem, attribute or None
        if not _looks_like_module(target, candidate):
            raise AppLoadError(f"{candidate} has no {APP_FILE}; {_WHAT_TO_PASS}")
    elif target.endswith(".py") or candidate.is_file():
        if not candidate.is_file():
            where = "in this folder" if target == APP_FILE else "at that path"
            raise AppLoadError(f"{candidate.name} not found {where} ({candidate}); {_WHAT_TO_PASS}")
        return candidate, candidate.stem, attribute or None
    return None, target, attribute or None


def _looks_like_module(target: str, folder: Path) -> bool:
    """A dotted name of an importable package (``--app my_package``), not a path."""
    return "/" not in target and "\\" not in target and (folder / "__init__.py").is_file()


def load_app(reference: str, *, cwd: Path) -> LoadedApp:
    """Import and index the app; any failure becomes ``AppLoadError`` with the traceback."""
    path, module_name, attribute = resolve_app_reference(reference, cwd)
    root = path.parent if path is not None else cwd
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = _import_file(path) if path is not None else importlib.import_module(module_name)
    except Exception as exc:
        detail = "".join(traceback.format_exception(exc))
        raise AppLoadError(f"importing {reference} failed:\n{detail}") from exc
    if path is None and module.__file__ is not None:
        root = Path(module.__file__).resolve().parent
    app = _find_app(module, attribute)
    try:
        raw_functions = tuple(app.get_functions())
    except Exception as exc:
        raise AppLoadError(f"indexing {reference} failed: {exc}") from exc
    functions = tuple(
        IndexedFunction(
            name=str(function.get_function_name()),
            function=function,
            bindings=tuple(json.loads(raw) for raw in function.get_raw_bindings()),
        )
        for function in raw_functions
    )
    for function in functions:
        logger.debug("indexed %s: %s", function.name, function.bindings)
    return LoadedApp(
        module=module, app=app, root=root, functions=functions, raw_functions=raw_functions
    )
