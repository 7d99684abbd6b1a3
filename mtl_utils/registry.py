"""Registries: the name -> class (or object) tables that make an extension one class.

The package has four: augmentation ops (:data:`mtl_utils.augment.OP_CLASSES`), label kinds
(:data:`mtl_utils.kinds.LABEL_KINDS`), loss-weighting strategies
(:data:`mtl_utils.weighting.STRATEGIES`) and text ops (:data:`mtl_utils.text.TEXT_OP_CLASSES`).
A class with a ``name`` registers itself when it is defined; a name already taken by another
class is refused (a built-in is never replaced silently), and :meth:`Registry.unregister`
frees a name. Defining the *same* class again (same module and qualified name: a notebook
cell run twice, a module reloaded) replaces the old definition.

Introduced in notebook 10 (extending the package).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _origin(obj: Any) -> str:
    """``module.QualName`` of a class, or of an instance's class."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Mapping[str, T], Generic[T]):
    """A read-only mapping ``{name: entry}`` in registration order, with checked
    :meth:`register`, :meth:`unregister` and :meth:`lookup`.

    Args:
        what: what an entry is, for messages (``"augmentation op"``).
        where: how a user reaches the registry, for messages
            (``"mtl_utils.augment.OP_CLASSES"``).

    Introduced in notebook 10.
    """

    def __init__(self, what: str, where: str) -> None:
        self.what = what
        self.where = where
        self._entries: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"

    def register(self, name: str, entry: T) -> None:
        """Add ``entry`` under ``name``.

        Raises:
            ValueError: ``name`` is empty or not a string, or already names another class
                (the message names both and the two fixes: another name, or
                ``unregister`` first).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} needs a non-empty string name; got {name!r}.")
        old = self._entries.get(name)
        if old is not None and _origin(old) != _origin(entry):
            raise ValueError(
                f"{self.what} name {name!r} is already taken by {_origin(old)}; "
                f"{_origin(entry)} cannot reuse it. Give your class another name, or "
                f"unregister the old one first: {self.where}.unregister({name!r}).")
        self._entries[name] = entry

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its entry (to put it back later, define the class
        again or call :meth:`register`).

        Raises:
            KeyError: an unknown name, listing the known ones.
        """
        if name not in self._entries:
            raise KeyError(f"no {self.what} named {name!r} to unregister; known: "
                           f"{', '.join(self._entries)}.")
        return self._entries.pop(name)

    def lookup(self, name: str, where: str = "") -> T:
        """The entry called ``name``.

        Raises:
            ValueError: an unknown name, listing the known ones (``where`` says who asked).
        """
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            raise ValueError(f"{prefix}unknown {self.what} {name!r}. Known {self.what} "
                             f"names: {', '.join(self._entries)}.")
        return self._entries[name]
