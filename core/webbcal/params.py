"""Typed parameters: :class:`Param` describes one (type, default, help, valid range) and
converts and checks a value given on the command line, in a parameter file or from
Python.  The lowest layer of the core: steps, the extraction engine and plugins all use it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .errors import ParameterError

__all__ = ["Param", "ParamAlias", "defaults"]

_TRUE = {"true", "yes", "1", "on", "t", "y"}
_FALSE = {"false", "no", "0", "off", "f", "n"}


@dataclass(frozen=True)
class Param:
    """A typed step parameter.

    ``type`` is one of ``bool, int, float, str, list`` (a list of floats / lists is parsed
    from JSON text on the command line).  ``None`` is accepted where ``allow_none``.
    """

    type: type
    default: Any = None
    doc: str = ""
    choices: tuple | None = None
    allow_none: bool = True
    #: valid range (numbers; each element of a list of numbers): ``low <= value <= high``,
    #: or ``low < value`` with ``low_open``; floats must be finite in any case
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def valid_range(self):
        """The allowed range as text (``">= 0 and <= 1"``, ``"finite"``), for help and errors."""
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"<= {self.high:g}"
        return " and ".join(x for x in (lo, hi) if x) or "finite"

    def _check_number(self, name, x):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ParameterError(f"parameter {name}={x!r} must be a number")
        if isinstance(x, float) and not np.isfinite(x):
            raise ParameterError(f"parameter {name}={x!r} must be finite ({self.valid_range()})")
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            raise ParameterError(f"parameter {name}={x!r} is out of range: it must be {self.valid_range()}")
        if self.high is not None and x > self.high:
            raise ParameterError(f"parameter {name}={x!r} is out of range: it must be {self.valid_range()}")

    def convert(self, name, value):
        """``value`` converted to this parameter's type and checked.

        Strings from the command line or a parameter file are parsed (``"none"``, booleans,
        numbers); ``name`` is used in the error message.

        Raises
        ------
        ParameterError
            A value of the wrong type, out of range or not among the choices.
        """
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null") and self.type is not str):
            if self.allow_none:
                return None
            raise ParameterError(f"parameter {name} may not be None")
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    out = value
                elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                    out = value.strip().lower() in _TRUE
                elif isinstance(value, (int, float)) and value in (0, 1):
                    out = bool(value)
                else:
                    raise ValueError(value)
            elif self.type is int:
                if isinstance(value, bool):
                    raise ValueError(value)
                out = int(value) if not isinstance(value, float) or value.is_integer() else None
                if out is None:
                    raise ValueError(value)
            elif self.type is float:
                out = float(value)
            elif self.type is list:
                if isinstance(value, str):
                    out = json.loads(value)
                else:
                    out = list(value)
                if not isinstance(out, list):
                    raise ValueError(value)
            elif self.type is str:
                out = str(value)
            else:
                out = self.type(value)
        except (TypeError, ValueError, json.JSONDecodeError):
            raise ParameterError(f"parameter {name}={value!r} is not a valid {self.type.__name__}") from None
        if self.choices is not None and out not in self.choices:
            raise ParameterError(f"parameter {name}={out!r} must be one of {', '.join(map(str, self.choices))}")
        if self.type in (int, float):
            self._check_number(name, out)
        elif self.type is list and (self.low is not None or self.high is not None):
            for x in out:
                self._check_number(name, x)
        return out


def defaults(spec):
    """``{name: default}`` of a ``{name: Param}`` table."""
    return {name: p.default for name, p in spec.items()}


@dataclass(frozen=True)
class ParamAlias:
    """A mode's own name for a parameter of a core step: the name the official pipeline
    gives it in that mode (e.g. a width called differently for one mode), declared by the
    plugin in :attr:`webbcal.modes.Mode.parameter_aliases`.

    Parameters
    ----------
    target : str
        The step parameter the alias sets.
    doc : str
        One line for ``--help``.
    values : mapping
        Special values (strings, case-insensitive) that set another parameter instead:
        ``{"optimize": ("optimize_width", [20, 30, 40])}``.
    """

    target: str
    doc: str = ""
    values: Mapping[str, tuple] = field(default_factory=dict)

    def resolve(self, name: str, value: Any) -> tuple[str, Any]:
        """``(parameter, value)`` that ``name=value`` sets."""
        if isinstance(value, str) and value.strip().lower() in self.values:
            return tuple(self.values[value.strip().lower()])
        return self.target, value

