"""Validated settings and issues read back from the load cache without pydantic, to render.

Importing pydantic and defining the models is about 40% of a warm `newsletter render`,
yet rendering only reads the validated values. The load cache (cache.py) pickles the
models; `load_records` reads the same pickles with each model class of newsletter.model
replaced by a Record of the same name: a frozen object holding the very values pydantic
validated (defaults included), with the models' own properties (Issue.label). Anything
else in a pickle that names pydantic refuses the shortcut, and the caller loads the files
the usual way. Validating, checking and sending keep the real models.
"""

from __future__ import annotations

import pickle
from typing import IO, Any


class Labelled:
    """The issue's label, shared by the Issue model and its record."""

    @property
    def label(self) -> str:
        """Return the masthead label, e.g. 'Vol 2.10'."""
        return f"Vol {self.volume}.{self.number}"  # type: ignore[attr-defined]


class Record:
    """A validated model's values, read-only, as pydantic stored them."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(state["__dict__"]))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:  # as a frozen model's: unhashable when it holds a list
        return hash((type(self), tuple(self.__dict__.values())))

    # Printed as pydantic prints a model, should a workspace template print one whole.
    def __str__(self) -> str:
        return " ".join(f"{name}={value!r}" for name, value in self.__dict__.items())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


_MIXINS = {"Issue": (Labelled,)}
_RECORDS: dict[str, type] = {}


def record_class(name: str) -> type:
    """Return the record class standing for the model class newsletter.model.<name>."""
    if name not in _RECORDS:
        # Named as the model, so a template's error names the same class ("newsletter.
        # model.Issue object has no attribute ..."); records are never pickled again.
        namespace = {"__module__": "newsletter.model", "__qualname__": name}
        _RECORDS[name] = type(name, (*_MIXINS.get(name, ()), Record), namespace)
    return _RECORDS[name]


class NotPlainData(pickle.UnpicklingError):
    """The pickle holds something only pydantic can rebuild."""


class RecordUnpickler(pickle.Unpickler):
    """Unpickle loaded files with records in place of the models."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "newsletter.model":
            return record_class(name)
        if module.split(".")[0] in ("pydantic", "pydantic_core") or module == "newsletter.loader":
            raise NotPlainData(f"{module}.{name}")
        return super().find_class(module, name)


def load_records(handle: IO[bytes]) -> Any:
    """Return what a load-cache pickle holds, with records in place of the models."""
    return RecordUnpickler(handle).load()
