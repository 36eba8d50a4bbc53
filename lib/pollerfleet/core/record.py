"""Frozen value classes for what every plugin run builds, without importing ``dataclasses``.

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``): about 8 ms of
the 90 ms of CPU a check_poller_container run costs, more than what separates it from
check_docker (docs/benchmarks.md). The classes on that path (the configuration, the container's
state and query, an image reference) are declared as frozen dataclasses, for the reader and for
mypy, but take their decorator from here::

    if TYPE_CHECKING:
        from dataclasses import dataclass, field
    else:
        from pollerfleet.core.record import dataclass, field

At run time they get this module's small implementation of what they use: ``frozen=True`` only,
an ``__init__`` by position or keyword with defaults (``field(default_factory=...)`` for mutable
ones), ``__eq__``, ``__hash__`` and ``__repr__`` over the fields in order. ``fields()`` and
``replace()`` here serve both these classes and real dataclasses; ``dataclasses.replace`` and
``dataclasses.fields`` do not know these classes (use the ones here).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")

_FIELDS = "__record_fields__"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as dataclasses.FrozenInstanceError)."""


class Field:
    """One field: its name, its annotation as written (a string) and its default."""

    __slots__ = ("default", "default_factory", "name", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING) -> None:
        self.name = ""
        self.type: Any = None
        self.default, self.default_factory = default, default_factory

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    """A field's default given as dataclasses.field gives it."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory)


def dataclass(*, frozen: bool) -> Callable[[type[T]], type[T]]:
    """``@dataclass(frozen=True)`` as this module implements it (nothing else is asked of it)."""
    if not frozen:
        raise TypeError("pollerfleet.core.record makes frozen classes only")
    return _make


def fields(cls_or_obj: Any) -> tuple[Any, ...]:
    """The fields of a record or of a real dataclass (class or instance), in order."""
    own = getattr(cls_or_obj, _FIELDS, None)
    if own is not None:
        return tuple(own)
    import dataclasses  # a real dataclass: its module is already imported

    return dataclasses.fields(cls_or_obj)


def replace(obj: T, **changes: Any) -> T:
    """A copy of OBJ (a record or a real dataclass) with CHANGES."""
    own = getattr(type(obj), _FIELDS, None)
    if own is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    return type(obj)(**{**{f.name: getattr(obj, f.name) for f in own}, **changes})


def _make(cls: type[T]) -> type[T]:
    declared: list[Field] = []
    # the class's own annotations, as text: the modules that use records import annotations from
    # __future__, which keeps them in the class's namespace (typing's helpers would import typing)
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if "ClassVar" in str(annotation):
            raise TypeError(f"{cls.__name__}.{name}: ClassVar is not supported by pollerfleet.core.record")
        given = cls.__dict__.get(name, MISSING)
        f = given if isinstance(given, Field) else Field(given)
        f.name, f.type = name, annotation
        if isinstance(given, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        if declared and f.default is MISSING and f.default_factory is MISSING and _has_default(declared[-1]):
            raise TypeError(f"non-default argument {name!r} follows default argument")
        declared.append(f)
    spec = tuple(declared)
    names = tuple(f.name for f in spec)
    setattr(cls, _FIELDS, spec)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(spec):
            raise TypeError(f"{cls.__name__}() takes {len(spec)} positional arguments but {len(args)} were given")
        for f, value in zip(spec, args):
            if f.name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {f.name!r}")
            kwargs[f.name] = value
        for f in spec:
            if f.name in kwargs:
                value = kwargs.pop(f.name)
            elif f.default is not MISSING:
                value = f.default
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {f.name!r}")
            object.__setattr__(self, f.name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def _values(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in names)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self: Any) -> int:
        return hash(_values(self))

    def __repr__(self: Any) -> str:
        return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    return cls


def _has_default(f: Field) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING
