"""Manifest settings: splitting and preloading rules, and their conditions."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Self

from frazil._config.base import (
    Section,
    Setting,
    bad,
    check_instance,
    check_int,
    check_text,
    given,
    value_class,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "ManifestConfig",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "SplitSizes",
]


# ---------------------------------------------------------------------- manifest conditions
class _Condition:
    """Base of the manifest conditions: hashable values with a JSON form."""

    _spelling: ClassVar[str] = ""
    """How the condition is written, e.g. ``ManifestSplitCondition.path_matches``."""

    def to_json(self) -> Any:
        """The JSON form (for saving the config)."""
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        values = [getattr(self, name) for name in getattr(self, "_FIELDS", ())]
        args = ", ".join(repr(list(v) if isinstance(v, tuple) else v) for v in values)
        return f"frazil.{self._spelling}({args})"


def _regex(name: str, value: object) -> str:
    text = check_text(name, value)
    try:
        re.compile(text)
    except re.error as exc:
        raise bad(f"{name} is not a valid regular expression ({exc}): {text!r}") from None
    return text


def _conditions[T](name: str, values: object, cls: type[T]) -> tuple[T, ...]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise bad(f"{name} takes a list of {cls.__name__}, got {values!r}")
    items = tuple(values)  # type: ignore[call-overload,unused-ignore]
    for item in items:
        if not isinstance(item, cls):
            raise bad(f"{name} takes a list of {cls.__name__}, got {item!r} in it")
    return items


class ManifestSplitCondition(_Condition):
    """Which arrays a manifest split rule applies to (by path or name, or any array)."""

    Or: ClassVar[type[ManifestSplitCondition]]
    And: ClassVar[type[ManifestSplitCondition]]
    PathMatches: ClassVar[type[ManifestSplitCondition]]
    NameMatches: ClassVar[type[ManifestSplitCondition]]
    AnyArray: ClassVar[type[ManifestSplitCondition]]

    def matches(self, path: str) -> bool:
        """Whether the array at ``path`` (absolute) satisfies the condition."""
        raise NotImplementedError  # pragma: no cover

    def __and__(self, other: ManifestSplitCondition) -> ManifestSplitCondition:
        return ManifestSplitCondition.and_conditions([self, other])

    def __or__(self, other: ManifestSplitCondition) -> ManifestSplitCondition:
        return ManifestSplitCondition.or_conditions([self, other])

    @staticmethod
    def or_conditions(conditions: Iterable[ManifestSplitCondition]) -> ManifestSplitCondition:
        """Any of the conditions."""
        return _SplitOr(_conditions("or_conditions", conditions, ManifestSplitCondition))

    @staticmethod
    def and_conditions(conditions: Iterable[ManifestSplitCondition]) -> ManifestSplitCondition:
        """All of the conditions."""
        return _SplitAnd(_conditions("and_conditions", conditions, ManifestSplitCondition))

    @staticmethod
    def path_matches(regex: str) -> ManifestSplitCondition:
        """Arrays whose absolute path matches the regular expression."""
        return _SplitPath(regex)

    @staticmethod
    def name_matches(regex: str) -> ManifestSplitCondition:
        """Arrays whose name (last path segment) matches the regular expression."""
        return _SplitName(regex)

    @staticmethod
    def any_array() -> ManifestSplitCondition:
        """Every array."""
        return _SplitAny()

    @staticmethod
    def from_json(data: Any) -> ManifestSplitCondition:
        """Rebuild a condition from :meth:`to_json` output."""
        match data:
            case {"or": list(items)}:
                return _SplitOr(tuple(ManifestSplitCondition.from_json(i) for i in items))
            case {"and": list(items)}:
                return _SplitAnd(tuple(ManifestSplitCondition.from_json(i) for i in items))
            case {"path_matches": str(regex)}:
                return _SplitPath(regex)
            case {"name_matches": str(regex)}:
                return _SplitName(regex)
            case {"any_array": True}:
                return _SplitAny()
        raise bad(f"not a saved ManifestSplitCondition: {data!r}")


@value_class
class _SplitOr(ManifestSplitCondition):
    _spelling = "ManifestSplitCondition.or_conditions"

    conditions: tuple[ManifestSplitCondition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conditions", _conditions("conditions", self.conditions, ManifestSplitCondition)
        )

    def matches(self, path: str) -> bool:
        return any(c.matches(path) for c in self.conditions)

    def to_json(self) -> Any:
        return {"or": [c.to_json() for c in self.conditions]}


@value_class
class _SplitAnd(ManifestSplitCondition):
    _spelling = "ManifestSplitCondition.and_conditions"

    conditions: tuple[ManifestSplitCondition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conditions", _conditions("conditions", self.conditions, ManifestSplitCondition)
        )

    def matches(self, path: str) -> bool:
        return all(c.matches(path) for c in self.conditions)

    def to_json(self) -> Any:
        return {"and": [c.to_json() for c in self.conditions]}


@value_class
class _SplitPath(ManifestSplitCondition):
    _spelling = "ManifestSplitCondition.path_matches"

    regex: str

    def __post_init__(self) -> None:
        _regex("ManifestSplitCondition.path_matches", self.regex)

    def matches(self, path: str) -> bool:
        return re.fullmatch(self.regex, path) is not None

    def to_json(self) -> Any:
        return {"path_matches": self.regex}


@value_class
class _SplitName(ManifestSplitCondition):
    _spelling = "ManifestSplitCondition.name_matches"

    regex: str

    def __post_init__(self) -> None:
        _regex("ManifestSplitCondition.name_matches", self.regex)

    def matches(self, path: str) -> bool:
        return re.fullmatch(self.regex, path.rpartition("/")[2]) is not None

    def to_json(self) -> Any:
        return {"name_matches": self.regex}


@value_class
class _SplitAny(ManifestSplitCondition):
    _spelling = "ManifestSplitCondition.any_array"

    def matches(self, path: str) -> bool:
        return True

    def to_json(self) -> Any:
        return {"any_array": True}


ManifestSplitCondition.Or = _SplitOr
ManifestSplitCondition.And = _SplitAnd
ManifestSplitCondition.PathMatches = _SplitPath
ManifestSplitCondition.NameMatches = _SplitName
ManifestSplitCondition.AnyArray = _SplitAny


class ManifestSplitDimCondition(_Condition):
    """Which dimension of an array a split size applies to."""

    Axis: ClassVar[type[ManifestSplitDimCondition]]
    DimensionName: ClassVar[type[ManifestSplitDimCondition]]
    Any: ClassVar[type[ManifestSplitDimCondition]]

    def matches(self, axis: int, name: str | None) -> bool:
        """Whether dimension ``axis`` (named ``name``) satisfies the condition."""
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def from_json(data: object) -> ManifestSplitDimCondition:
        """Rebuild a condition from :meth:`to_json` output."""
        match data:
            case {"axis": int(axis)}:
                return _DimAxis(axis)
            case {"dimension_name": str(name)}:
                return _DimName(name)
            case {"any": True}:
                return _DimAny()
        raise bad(f"not a saved ManifestSplitDimCondition: {data!r}")


@value_class
class _DimAxis(ManifestSplitDimCondition):
    _spelling = "ManifestSplitDimCondition.Axis"

    axis: int

    def __post_init__(self) -> None:
        check_int()("ManifestSplitDimCondition.Axis", self.axis)

    def matches(self, axis: int, name: str | None) -> bool:
        return axis == self.axis

    def to_json(self) -> Any:
        return {"axis": self.axis}


@value_class
class _DimName(ManifestSplitDimCondition):
    _spelling = "ManifestSplitDimCondition.DimensionName"

    name: str

    def __post_init__(self) -> None:
        check_text("ManifestSplitDimCondition.DimensionName", self.name)

    def matches(self, axis: int, name: str | None) -> bool:
        return name == self.name

    def to_json(self) -> Any:
        return {"dimension_name": self.name}


@value_class
class _DimAny(ManifestSplitDimCondition):
    _spelling = "ManifestSplitDimCondition.Any"

    def matches(self, axis: int, name: str | None) -> bool:
        return True

    def to_json(self) -> Any:
        return {"any": True}


ManifestSplitDimCondition.Axis = _DimAxis
ManifestSplitDimCondition.DimensionName = _DimName
ManifestSplitDimCondition.Any = _DimAny

type SplitSizes = list[tuple[ManifestSplitCondition, list[tuple[ManifestSplitDimCondition, int]]]]


def _split_sizes(name: str, value: object) -> SplitSizes:
    if not isinstance(value, list | tuple):
        raise bad(f"{name} must be a list of (ManifestSplitCondition, [(dim, size), ...])")
    out: SplitSizes = []
    for rule in value:
        if not (isinstance(rule, tuple | list) and len(rule) == 2):
            raise bad(f"{name}: each rule is (ManifestSplitCondition, [(dim, size), ...])")
        condition, dims = rule
        check_instance(ManifestSplitCondition)(f"{name} condition", condition)
        pairs = []
        for pair in dims:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise bad(f"{name}: each dimension rule is (ManifestSplitDimCondition, size)")
            dim, size = pair
            check_instance(ManifestSplitDimCondition)(f"{name} dimension condition", dim)
            pairs.append((dim, check_int(1)(f"{name} split size", size)))
        out.append((condition, pairs))
    return out


def _dump_split_sizes(value: SplitSizes | None) -> Any:
    return [[c.to_json(), [[d.to_json(), n] for d, n in dims]] for c, dims in value or []]


def _load_split_sizes(data: Any) -> SplitSizes:
    return [
        (
            ManifestSplitCondition.from_json(c),
            [(ManifestSplitDimCondition.from_json(d), int(n)) for d, n in dims],
        )
        for c, dims in data
    ]


class ManifestSplittingConfig(Section):
    """Rules for how many chunks (per dimension) one manifest block of an array holds.

    The first rule whose condition matches an array's path applies; within it, each
    dimension takes the size of the first dimension condition that matches it, and a
    dimension none matches stays whole. In a repository with rules, every block of a
    matched array is a manifest of its own and no manifest holds two arrays (Icechunk's
    layout); a commit that writes an array whose rule asks for another shape than it has
    lays the array out afresh.
    """

    split_sizes = Setting[SplitSizes | None](
        None, _split_sizes, dump=_dump_split_sizes, load=_load_split_sizes
    )
    """``[(ManifestSplitCondition, [(ManifestSplitDimCondition, chunks), ...]), ...]``."""

    def __init__(self, split_sizes: SplitSizes | None = None) -> None:
        super().__init__(split_sizes=split_sizes)

    @classmethod
    def from_dict(cls, data: Mapping[Any, Any]) -> Self:
        """Also accepts Icechunk's form ``{condition: {dim condition: size}}``."""
        if data and all(isinstance(k, ManifestSplitCondition) for k in data):
            rules = [(c, list(dict(dims).items())) for c, dims in data.items()]
            return cls(split_sizes=rules)
        return super().from_dict(data)

    def split_shape(
        self,
        path: str,
        dimension_names: tuple[str | None, ...],
        grid: tuple[int, ...],
        *,
        unsplit: int | None = None,
    ) -> tuple[int, ...] | None:
        """The block shape (chunks per dimension) for the array at ``path``, or None if no
        rule matches.

        A dimension that no size names is not split: it spans the whole grid, or takes
        ``unsplit`` chunks if given (commits give a size no grid reaches, so that an array
        growing along such a dimension keeps its block shape).
        """
        for condition, dims in self.split_sizes or []:
            if not condition.matches(path):
                continue
            shape = []
            for axis, extent in enumerate(grid):
                name = dimension_names[axis] if axis < len(dimension_names) else None
                size = next((n for d, n in dims if d.matches(axis, name)), None)
                if size is None:
                    size = max(1, int(extent)) if unsplit is None else unsplit
                shape.append(size)
            return tuple(shape)
        return None


class ManifestPreloadCondition(_Condition):
    """Which manifests to load when a session opens (by path, name or size)."""

    Or: ClassVar[type[ManifestPreloadCondition]]
    And: ClassVar[type[ManifestPreloadCondition]]
    PathMatches: ClassVar[type[ManifestPreloadCondition]]
    NameMatches: ClassVar[type[ManifestPreloadCondition]]
    NumRefs: ClassVar[type[ManifestPreloadCondition]]

    def matches(self, path: str, num_refs: int) -> bool:
        """Whether an array at ``path`` whose manifests hold ``num_refs`` refs matches."""
        raise NotImplementedError  # pragma: no cover

    def __and__(self, other: ManifestPreloadCondition) -> ManifestPreloadCondition:
        return ManifestPreloadCondition.and_conditions([self, other])

    def __or__(self, other: ManifestPreloadCondition) -> ManifestPreloadCondition:
        return ManifestPreloadCondition.or_conditions([self, other])

    @staticmethod
    def or_conditions(
        conditions: Iterable[ManifestPreloadCondition],
    ) -> ManifestPreloadCondition:
        """Any of the conditions."""
        return _PreloadOr(_conditions("or_conditions", conditions, ManifestPreloadCondition))

    @staticmethod
    def and_conditions(
        conditions: Iterable[ManifestPreloadCondition],
    ) -> ManifestPreloadCondition:
        """All of the conditions."""
        return _PreloadAnd(_conditions("and_conditions", conditions, ManifestPreloadCondition))

    @staticmethod
    def path_matches(regex: str) -> ManifestPreloadCondition:
        """Arrays whose absolute path matches the regular expression."""
        return _PreloadPath(regex)

    @staticmethod
    def name_matches(regex: str) -> ManifestPreloadCondition:
        """Arrays whose name matches the regular expression."""
        return _PreloadName(regex)

    @staticmethod
    def num_refs(from_refs: int | None, to_refs: int | None) -> ManifestPreloadCondition:
        """Arrays with at least ``from_refs`` and fewer than ``to_refs`` chunk refs."""
        return _PreloadNumRefs(from_refs, to_refs)

    @staticmethod
    def true() -> ManifestPreloadCondition:
        """Always."""
        return _PreloadConst(True)

    @staticmethod
    def false() -> ManifestPreloadCondition:
        """Never."""
        return _PreloadConst(False)

    @staticmethod
    def from_json(data: Any) -> ManifestPreloadCondition:
        """Rebuild a condition from :meth:`to_json` output."""
        match data:
            case {"or": list(items)}:
                return _PreloadOr(tuple(ManifestPreloadCondition.from_json(i) for i in items))
            case {"and": list(items)}:
                return _PreloadAnd(tuple(ManifestPreloadCondition.from_json(i) for i in items))
            case {"path_matches": str(regex)}:
                return _PreloadPath(regex)
            case {"name_matches": str(regex)}:
                return _PreloadName(regex)
            case {"num_refs": [low, high]}:
                return _PreloadNumRefs(low, high)
            case {"const": bool(value)}:
                return _PreloadConst(value)
        raise bad(f"not a saved ManifestPreloadCondition: {data!r}")


@value_class
class _PreloadOr(ManifestPreloadCondition):
    _spelling = "ManifestPreloadCondition.or_conditions"

    conditions: tuple[ManifestPreloadCondition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conditions", _conditions("conditions", self.conditions, ManifestPreloadCondition)
        )

    def matches(self, path: str, num_refs: int) -> bool:
        return any(c.matches(path, num_refs) for c in self.conditions)

    def to_json(self) -> Any:
        return {"or": [c.to_json() for c in self.conditions]}


@value_class
class _PreloadAnd(ManifestPreloadCondition):
    _spelling = "ManifestPreloadCondition.and_conditions"

    conditions: tuple[ManifestPreloadCondition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conditions", _conditions("conditions", self.conditions, ManifestPreloadCondition)
        )

    def matches(self, path: str, num_refs: int) -> bool:
        return all(c.matches(path, num_refs) for c in self.conditions)

    def to_json(self) -> Any:
        return {"and": [c.to_json() for c in self.conditions]}


@value_class
class _PreloadPath(ManifestPreloadCondition):
    _spelling = "ManifestPreloadCondition.path_matches"

    regex: str

    def __post_init__(self) -> None:
        _regex("ManifestPreloadCondition.path_matches", self.regex)

    def matches(self, path: str, num_refs: int) -> bool:
        return re.fullmatch(self.regex, path) is not None

    def to_json(self) -> Any:
        return {"path_matches": self.regex}


@value_class
class _PreloadName(ManifestPreloadCondition):
    _spelling = "ManifestPreloadCondition.name_matches"

    regex: str

    def __post_init__(self) -> None:
        _regex("ManifestPreloadCondition.name_matches", self.regex)

    def matches(self, path: str, num_refs: int) -> bool:
        return re.fullmatch(self.regex, path.rpartition("/")[2]) is not None

    def to_json(self) -> Any:
        return {"name_matches": self.regex}


@value_class
class _PreloadNumRefs(ManifestPreloadCondition):
    _spelling = "ManifestPreloadCondition.num_refs"

    from_refs: int | None
    to_refs: int | None

    def __post_init__(self) -> None:
        for name in ("from_refs", "to_refs"):
            value = getattr(self, name)
            if value is not None:
                check_int()(f"ManifestPreloadCondition.num_refs {name}", value)

    def matches(self, path: str, num_refs: int) -> bool:
        low = self.from_refs if self.from_refs is not None else 0
        return low <= num_refs and (self.to_refs is None or num_refs < self.to_refs)

    def to_json(self) -> Any:
        return {"num_refs": [self.from_refs, self.to_refs]}


@value_class
class _PreloadConst(ManifestPreloadCondition):
    value: bool

    def matches(self, path: str, num_refs: int) -> bool:
        return self.value

    def to_json(self) -> Any:
        return {"const": self.value}

    def __repr__(self) -> str:
        return f"frazil.ManifestPreloadCondition.{str(self.value).lower()}()"


ManifestPreloadCondition.Or = _PreloadOr
ManifestPreloadCondition.And = _PreloadAnd
ManifestPreloadCondition.PathMatches = _PreloadPath
ManifestPreloadCondition.NameMatches = _PreloadName
ManifestPreloadCondition.NumRefs = _PreloadNumRefs
setattr(ManifestPreloadCondition, "True", _PreloadConst)
setattr(ManifestPreloadCondition, "False", _PreloadConst)


class ManifestPreloadConfig(Section):
    """Which manifests a session loads when it opens."""

    max_total_refs = Setting(10_000, check_int())
    """Stop preloading after this many chunk references."""
    preload_if = Setting[ManifestPreloadCondition | None](
        None,
        check_instance(ManifestPreloadCondition),
        dump=lambda c: None if c is None else c.to_json(),
        load=ManifestPreloadCondition.from_json,
    )
    """Preload the manifests of arrays matching this condition (None: none)."""
    max_arrays_to_scan = Setting(50, check_int())
    """Look at no more than this many arrays."""

    def __init__(
        self,
        max_total_refs: int | None = None,
        preload_if: ManifestPreloadCondition | None = None,
        max_arrays_to_scan: int | None = None,
    ) -> None:
        super().__init__(
            max_total_refs=max_total_refs,
            preload_if=preload_if,
            max_arrays_to_scan=max_arrays_to_scan,
        )


class ManifestVirtualChunkLocationCompressionConfig(Section):
    """Accepted for Icechunk scripts: frazil stores virtual locations deduplicated in a
    column of the manifest (always), so these settings have no effect."""

    min_num_chunks = Setting(1000, check_int())
    """Accepted; no effect."""
    dictionary_max_training_samples = Setting(100, check_int())
    """Accepted; no effect."""
    dictionary_max_size_bytes = Setting(2048, check_int())
    """Accepted; no effect."""
    compression_level = Setting(3, check_int(1, 22))
    """Accepted; no effect."""

    def __init__(
        self,
        min_num_chunks: int | None = None,
        dictionary_max_training_samples: int | None = None,
        dictionary_max_size_bytes: int | None = None,
        compression_level: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))


class ManifestConfig(Section):
    """How chunk references are split into manifest objects, and which are preloaded."""

    split_size = Setting(50_000, check_int(1))
    """At most this many chunk references per manifest object, when no ``splitting`` rule
    matches an array. Large arrays are split into blocks of chunk coordinates holding at
    most this many references each, so a commit rewrites only the blocks it touched."""
    preload = Setting(
        ManifestPreloadConfig(),
        check_instance(ManifestPreloadConfig),
        factory=ManifestPreloadConfig,
    )
    """Manifest preloading."""
    splitting = Setting(
        ManifestSplittingConfig(),
        check_instance(ManifestSplittingConfig),
        factory=ManifestSplittingConfig,
    )
    """Per-array split rules (Icechunk's form); they take precedence over ``split_size``."""
    virtual_chunk_location_compression = Setting(
        ManifestVirtualChunkLocationCompressionConfig(),
        check_instance(ManifestVirtualChunkLocationCompressionConfig),
        factory=ManifestVirtualChunkLocationCompressionConfig,
    )
    """Accepted for Icechunk scripts; no effect."""
    max_concurrent_manifest_fetches_during_commit = Setting(1, check_int(1))
    """Accepted for Icechunk scripts; commits read manifests within
    ``RepositoryConfig.max_concurrent_requests``."""

    def __init__(
        self,
        preload: ManifestPreloadConfig | None = None,
        splitting: ManifestSplittingConfig | None = None,
        virtual_chunk_location_compression: ManifestVirtualChunkLocationCompressionConfig
        | None = None,
        max_concurrent_manifest_fetches_during_commit: int | None = None,
        *,
        split_size: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))
