"""The machinery of config sections: settings validated when set, defaults when unset."""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, dataclass_transform, overload

from frazil._errors import ErrorKind, InvalidInputError

__all__ = [
    "MIB",
    "Section",
    "Setting",
    "bad",
    "check_bool",
    "check_instance",
    "check_int",
    "check_number",
    "check_text",
    "given",
    "value_class",
]

MIB = 1024 * 1024


def bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.INVALID_CONFIG)


# ---------------------------------------------------------------------- value checks
type Check[T] = Callable[[str, object], T]


def check_int(low: int = 0, high: int | None = None) -> Check[int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"{name} must be an int, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise bad(f"{name} must be an int {bounds}, got {value!r}")
        return value

    return check


def check_number(low: float = 0.0) -> Check[float]:
    def check(name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise bad(f"{name} must be a number >= {low:g}, got {value!r}")
        return float(value)

    return check


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise bad(f"{name} must be True or False, got {value!r}")
    return value


def check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise bad(f"{name} must be a str, got {value!r}")
    return value


def check_instance[T](cls: type[T]) -> Check[T]:
    def check(name: str, value: object) -> T:
        if not isinstance(value, cls):
            raise bad(f"{name} must be a {cls.__name__}, got {value!r}")
        return value

    return check


# ---------------------------------------------------------------------- sections
def given(arguments: dict[str, Any]) -> dict[str, Any]:
    """A constructor's arguments from its ``locals()``."""
    return {k: v for k, v in arguments.items() if k not in ("self", "__class__")}


class Setting[T]:
    """A validated setting of a config section; unset, it reads as its default."""

    def __init__(
        self,
        default: T,
        check: Check[T],
        *,
        factory: Callable[[], T] | None = None,
        dump: Callable[[T], Any] | None = None,
        load: Callable[[Any], T] | None = None,
    ) -> None:
        self.default = default
        self.check = check
        self.factory = factory
        self.dump = dump
        self.load = load
        self.name = ""
        self.qualname = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.qualname = f"{owner.__name__}.{name}"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: Section, owner: type | None = None) -> T: ...
    def __get__(self, obj: Section | None, owner: type | None = None) -> T | Self:
        if obj is None:
            return self
        values = obj._values
        if self.name in values:
            return values[self.name]  # type: ignore[no-any-return]
        if self.factory is not None:
            # sections are made on first use and kept, so ``config.caching.x = 1`` sticks
            value = self.factory()
            values[self.name] = value
            return value
        return self.default

    def __set__(self, obj: Section, value: T | None) -> None:
        if value is None:
            obj._values.pop(self.name, None)
            return
        obj._values[self.name] = self.check(self.qualname, value)

    def to_json(self, value: T) -> Any:
        if isinstance(value, Section):
            return value.to_dict()
        return self.dump(value) if self.dump is not None else value

    def from_json(self, data: Any) -> T:
        if self.load is not None:
            return self.load(data)
        return data  # type: ignore[no-any-return]


class Section:
    """Base of the config sections: known settings only, each validated when set."""

    __slots__ = ("_values",)
    _values: dict[str, Any]
    _SETTINGS: ClassVar[dict[str, Setting[Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._SETTINGS = {
            name: value for name, value in vars(cls).items() if isinstance(value, Setting)
        }

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", {})
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        if name not in self._SETTINGS:
            raise AttributeError(
                f"{type(self).__name__} has no setting {name!r}; its settings are "
                f"{', '.join(sorted(self._SETTINGS))}"
            )
        object.__setattr__(self, name, value)

    @classmethod
    def default(cls) -> Self:
        """A config with every setting at its default."""
        return cls()

    def is_set(self, name: str) -> bool:
        """Whether ``name`` was set (otherwise it reads as its default)."""
        value = self._values.get(name)
        if isinstance(value, Section):
            return bool(value.to_dict())
        return name in self._values

    # ------------------------------------------------------------------ copies
    def copy(self) -> Self:
        """An independent copy."""
        return type(self).from_dict(self.to_dict())

    def replace(self, **changes: Any) -> Self:
        """A copy with the given settings replaced (``None`` resets one to its default)."""
        out = self.copy()
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    def merge(self, other: Self) -> Self:
        """A copy of this config with every setting that ``other`` set applied over it."""
        if type(other) is not type(self):
            raise bad(f"cannot merge a {type(other).__name__} into a {type(self).__name__}")
        out = self.copy()
        for name, setting in self._SETTINGS.items():
            if not other.is_set(name):
                continue
            mine, theirs = getattr(out, name), getattr(other, name)
            if isinstance(mine, Section):
                out._values[name] = mine.merge(theirs)
            else:
                out._values[name] = setting.from_json(setting.to_json(theirs))
        return out

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The settings that were set, as a JSON-serialisable dict."""
        out: dict[str, Any] = {}
        for name, value in self._values.items():
            setting = self._SETTINGS[name]
            dumped = setting.to_json(value)
            if isinstance(value, Section) and not dumped:
                continue
            out[name] = dumped
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are ignored.

        Ignoring unknown keys lets an older frazil open a repository whose config was saved
        by a newer one.

        Raises
        ------
        InvalidInputError
            If ``data`` is not a dict, or a known setting holds an invalid value.
        """
        if not isinstance(data, Mapping):
            raise bad(f"{cls.__name__}.from_dict takes a dict (from to_dict()), got {data!r}")
        out = cls()
        for name, raw in data.items():
            setting = cls._SETTINGS.get(name)
            if setting is None or raw is None:
                continue
            if setting.factory is not None and isinstance(raw, Mapping):
                section = setting.factory()
                assert isinstance(section, Section)
                out._values[name] = type(section).from_dict(raw)
            else:
                setattr(out, name, setting.from_json(raw))
        return out

    def effective(self) -> dict[str, Any]:
        """Every setting's value, defaults included, as JSON."""
        out: dict[str, Any] = {}
        for name, setting in self._SETTINGS.items():
            value = getattr(self, name)
            out[name] = value.effective() if isinstance(value, Section) else setting.to_json(value)
        return out

    def fingerprint(self) -> str:
        """A canonical text of the effective settings (equal configs, equal fingerprints)."""
        return json.dumps(self.effective(), sort_keys=True, default=str)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Section)
        return self.fingerprint() == other.fingerprint()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", type(self).from_dict(state)._values)

    def __repr__(self) -> str:
        return "\n".join(self._repr_lines())

    def _repr_lines(self, indent: str = "") -> list[str]:
        lines = [f"{indent}<frazil.{type(self).__name__}>"]
        for name in self._SETTINGS:
            value = getattr(self, name)
            if isinstance(value, Section):
                lines.append(f"{indent}{name}:")
                lines.extend(value._repr_lines(indent + "    "))
            else:
                marker = "" if name in self._values else " (default)"
                shown = value.value if isinstance(value, enum.Enum) else value
                lines.append(f"{indent}{name}: {shown!r}{marker}")
        return lines


@dataclass_transform(frozen_default=True)
def value_class[C: type](cls: C) -> C:
    """Make ``cls`` a frozen value class of its annotated fields, without generating code.

    ``__init__`` (positional or keyword, every field required, then ``__post_init__`` if
    defined), ``==`` and ``hash`` over the fields, and refusal of assignment. A light
    stand-in for a frozen dataclass: creating a dataclass costs about 0.4 ms of import time,
    this about 5 us, and config modules define many small ones.
    """
    fields = tuple(inspect.get_annotations(cls))
    post_init = getattr(cls, "__post_init__", None)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__} takes {len(fields)} arguments, got {len(args)}")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{cls.__name__} got an unexpected or repeated argument {name!r}")
            values[name] = value
        missing = [f for f in fields if f not in values]
        if missing:
            raise TypeError(f"{cls.__name__} is missing {', '.join(missing)}")
        for name in fields:
            object.__setattr__(self, name, values[name])
        if post_init is not None:
            post_init(self)

    def values(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in fields)

    def __eq__(self: Any, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(values(self) == values(other))

    def __hash__(self: Any) -> int:
        return hash((type(self).__name__, *values(self)))

    def __setattr__(self: Any, name: str, value: object) -> None:
        raise AttributeError(f"{cls.__name__} is immutable; cannot set {name!r}")

    for name, function in (
        ("__init__", __init__),
        ("__eq__", __eq__),
        ("__hash__", __hash__),
        ("__setattr__", __setattr__),
    ):
        function.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, function)
    cls._FIELDS = fields  # type: ignore[attr-defined]
    cls.__match_args__ = fields  # type: ignore[attr-defined,misc]
    return cls
