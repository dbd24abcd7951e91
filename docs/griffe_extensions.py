"""Griffe extensions for the API reference; loaded by mkdocstrings (``extensions:`` in mkdocs.yml).

- :class:`ExampleSections`: lossbench's docstrings head their doctests ``Example:``, which the
  Google style guide and Sphinx's napoleon accept beside ``Examples:``. Griffe reads only the
  plural as the examples section (code blocks of ``>>>`` lines) and the singular as an
  admonition of markdown text, where a doctest's output such as ``['dice_loss', 'DiceLoss']``
  reads as a broken cross-reference. The extension renames the heading before the docstrings
  are parsed.
- :class:`SphinxRoles`: the docstrings cross-reference with Sphinx roles
  (``:func:`create_loss```), which markdown shows as they are typed; the extension keeps the
  name as inline code.
- :class:`RuntimeExports`: ``lossbench.losses`` builds its ``__all__`` at import time
  (``[..., *declared_names()]``), which static analysis cannot read, so griffe would show the
  helpers its wildcard imports bring in and hide ``create_loss`` and the rest. The extension
  imports such a module (only that one: inspecting the whole package would also import and run
  ``lossbench/cli/__main__.py``) and takes the names of its ``__all__`` that static analysis
  found.
- :class:`RuntimeSignatures`: ``@builtin_loss`` turns a per-unit term such as
  ``dice_loss(z, y, pooled, *, smooth)`` into the public functional
  ``dice_loss(logits, target, target_maps=None, *, smooth, batch, reduction)``, which is what its
  docstring documents. The extension gives each such function the signature it has at run time,
  keeping the static annotations of the hyper-parameters.

The sources stay as they are.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
SPHINX_ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|obj|exc):`~?([^`]+)`")
SIGNATURE_DECORATORS = ("lossbench.losses.registry.builtin_loss",)
MODULE_PREFIX = re.compile(r"\b(?:torch|typing|collections\.abc)\.")


class ExampleSections(griffe.Extension):
    """Turn every ``Example:`` section heading into ``Examples:``."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rename the heading in the docstring of every object once the tree is built."""
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)


class SphinxRoles(griffe.Extension):
    """Turn ``:func:`name``` (any Sphinx cross-reference role) into inline code."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the roles in the docstring of every object once the tree is built."""
        if obj.docstring is not None:
            obj.docstring.value = SPHINX_ROLE.sub(r"``\1``", obj.docstring.value)


class RuntimeExports(griffe.Extension):
    """Read at run time the ``__all__`` of a module whose ``__all__`` static analysis missed."""

    def on_module(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        """Set the exports of ``mod`` from its imported ``__all__`` when griffe found none."""
        if mod.exports or "__all__" not in mod.members:
            return
        names = getattr(importlib.import_module(mod.path), "__all__", [])
        mod.exports = [name for name in names if name in mod.members]


class RuntimeSignatures(griffe.Extension):
    """Give a function whose decorator replaces its signature the signature it has at run time."""

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        """Replace the parameters of a ``@builtin_loss`` function by its run-time ones."""
        if not any(d.callable_path in SIGNATURE_DECORATORS for d in func.decorators):
            return
        runtime = getattr(importlib.import_module(func.module.path), func.name)
        static = {parameter.name: parameter for parameter in func.parameters}
        func.parameters = griffe.Parameters(
            *(
                static.get(p.name) or _parameter(p)
                for p in inspect.signature(runtime).parameters.values()
            )
        )


def _parameter(parameter: inspect.Parameter) -> griffe.Parameter:
    empty = inspect.Parameter.empty
    annotation = parameter.annotation
    return griffe.Parameter(
        parameter.name,
        annotation=None
        if annotation is empty
        else MODULE_PREFIX.sub("", inspect.formatannotation(annotation)),
        kind=griffe.ParameterKind(parameter.kind.description),
        default=None if parameter.default is empty else repr(parameter.default),
    )
