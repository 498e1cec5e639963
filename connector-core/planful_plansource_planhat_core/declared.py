"""Settings declared once: each setting is one annotated field of a frozen dataclass, with its
JSON Schema type, default, title and description (`setting(...)`). The same class gives the
plugin's `config_jsonschema` (`Settings.schema()`, from which `--about`, the README settings
table and the Meltano plugin definition are generated) and the typed object the plugin reads
(`Settings.read(config)`); cross-field rules are the only checks written by hand
(`Settings.problems`).

    @dataclass(frozen=True, kw_only=True)
    class PlanhatSettings(DeclaredSettings):
        api_token: str = setting(th.StringType, required=True, secret=True, description="...")
        page_size: int = setting(th.IntegerType(minimum=1), default=5000, description="...")
"""

from __future__ import annotations

import copy
import dataclasses
import typing as t

from singer_sdk import typing as th

from planful_plansource_planhat_core.retry import RetryPolicy

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

SETTING = "planful_plansource_planhat_core.setting"
"""The key of a field's declaration in its dataclass metadata."""


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What the config schema says about one setting."""

    kind: th.JSONTypeHelper | type[th.JSONTypeHelper]
    default: t.Any
    description: str
    title: str | None = None
    required: bool = False
    secret: bool = False
    allowed_values: tuple[t.Any, ...] | None = None
    examples: tuple[t.Any, ...] | None = None
    deprecated: bool = False

    def property(self, name: str) -> th.Property:
        return th.Property(
            name,
            self.kind,
            required=self.required,
            default=None if self.default is None else copy.deepcopy(self.default),
            title=self.title,
            description=self.description,
            secret=self.secret,
            allowed_values=list(self.allowed_values) if self.allowed_values else None,
            examples=list(self.examples) if self.examples else None,
            deprecated=self.deprecated or None,
        )


def setting(
    kind: th.JSONTypeHelper | type[th.JSONTypeHelper],
    *,
    description: str,
    default: t.Any = None,
    title: str | None = None,
    required: bool = False,
    secret: bool = False,
    allowed_values: t.Iterable[t.Any] | None = None,
    examples: t.Iterable[t.Any] | None = None,
    deprecated: bool = False,
) -> t.Any:
    """One setting's field: the config schema's entry and the typed attribute's default (a list
    or dict default is copied for every instance; a secret is left out of the object's repr)."""
    declaration = Declaration(
        kind,
        default,
        description,
        title,
        required,
        secret,
        tuple(allowed_values) if allowed_values is not None else None,
        tuple(examples) if examples is not None else None,
        deprecated,
    )
    metadata = {SETTING: declaration}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(
            default_factory=lambda: copy.deepcopy(default), metadata=metadata, repr=not secret
        )
    return dataclasses.field(default=default, metadata=metadata, repr=not secret)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeclaredSettings:
    """Base of a plugin's settings class (see the module's docstring)."""

    @classmethod
    def declarations(cls) -> dict[str, Declaration]:
        """Each setting's declaration, by name, in declaration order (base classes first)."""
        return {
            field.name: field.metadata[SETTING]
            for field in dataclasses.fields(cls)
            if SETTING in field.metadata
        }

    @classmethod
    def properties(cls) -> th.PropertiesList:
        return th.PropertiesList(*(d.property(n) for n, d in cls.declarations().items()))

    @classmethod
    def schema(cls) -> dict[str, t.Any]:
        """The plugin's `config_jsonschema`."""
        return cls.properties().to_dict()

    @classmethod
    def read(cls, config: Mapping[str, t.Any]) -> Self:
        """The typed settings of a validated `config`: each declared setting's value, its
        declared default where unset (None or absent). Settings the class does not declare
        (singer-sdk's built-in ones) are left out."""
        values = {}
        for name, declaration in cls.declarations().items():
            value = config.get(name)
            if value is None:
                value = copy.deepcopy(declaration.default)
            if value is not None:
                values[name] = value
        return cls(**values)

    def problems(self) -> list[str]:
        """What the schema cannot say (one setting needs another, two exclude each other): one
        sentence per problem, naming the settings to fix. None by default."""
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetrySettings(DeclaredSettings):
    """The four timeout and retry settings every plugin shares, with the plugin's own defaults
    (`retry_defaults`) and service name in their descriptions; `retry` is the policy they make."""

    retry_defaults: t.ClassVar[RetryPolicy] = RetryPolicy()
    retry_service: t.ClassVar[str] = "the API"

    request_timeout: float = setting(
        th.NumberType(exclusive_minimum=0),
        title="Request timeout (s)",
        description="Seconds to wait for {service} to answer one request.",
    )
    retry_max_tries: int = setting(
        th.IntegerType(minimum=1),
        title="Tries per request",
        description=(
            "Attempts per request, the first included, on 429, 5xx, timeouts and dropped "
            "connections before the run fails."
        ),
    )
    retry_initial_wait: float = setting(
        th.NumberType(minimum=0),
        title="First retry wait (s)",
        description=(
            "Seconds before the first retry when no Retry-After is sent; doubles each time "
            "(jittered)."
        ),
    )
    retry_max_wait: float = setting(
        th.NumberType(minimum=0),
        title="Longest retry wait (s)",
        description="Longest single wait between tries, a server's Retry-After included.",
    )

    @classmethod
    def declarations(cls) -> dict[str, Declaration]:
        defaults = {
            "request_timeout": cls.retry_defaults.timeout,
            "retry_max_tries": cls.retry_defaults.max_tries,
            "retry_initial_wait": cls.retry_defaults.initial_wait,
            "retry_max_wait": cls.retry_defaults.max_wait,
        }
        declared = {
            name: dataclasses.replace(
                declaration,
                default=defaults[name],
                description=declaration.description.format(service=cls.retry_service),
            )
            if name in defaults
            else declaration
            for name, declaration in super().declarations().items()
        }
        # the plugin's own settings first, as the shared ones are the least often set
        return {n: d for n, d in declared.items() if n not in defaults} | {
            n: declared[n] for n in defaults
        }

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy.from_config(dataclasses.asdict(self), self.retry_defaults)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FastPathSettings(DeclaredSettings):
    """The switch of a plugin's fast paths: each place that replaces a singer-sdk path (in a
    module named for it, measured in docs/performance.md) runs the SDK's own path when off."""

    fast_paths: bool = setting(
        th.BooleanType,
        default=True,
        title="Fast paths",
        description=(
            "Use this plugin's measured replacements of singer-sdk's record and request paths "
            "(docs/performance.md); false runs the SDK's own paths, with the same output, "
            "slower: for diagnosis."
        ),
    )
