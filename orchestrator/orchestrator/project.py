"""What the orchestrator reads from the Meltano project: jobs, schedules and the partitions of
each job, all from meltano.yml (and its include_paths) plus the runner's environment variables."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLANFUL = "tap-planful"
PLANSOURCE = "tap-plansource"
PLANHAT = "target-planhat"

PLANFUL_YEAR_RANGES = "ORCHESTRATOR_PLANFUL_YEAR_RANGES"
"""Optional `2019-2021,2022-2024`: every Planful scenario partition is split by these fiscal year
ranges (start_fiscal_year / end_fiscal_year), each part with its own state ID."""

PLANFUL_PARTITIONED_STREAM = "gl_data"
PLANFUL_OTHER_STREAMS = "other-streams"
"""The state ID suffix of the Planful partition that reads every selected stream but gl_data."""
PLANFUL_SELECT_FILTER = "TAP_PLANFUL__SELECT_FILTER"
"""Meltano's `select_filter` extra as a variable: narrows the project's `select` for one run."""
PLANSOURCE_ORGANISATIONS = "ORCHESTRATOR_PLANSOURCE_ORGANISATIONS"
"""`acme,globex`: one tap-plansource partition per organisation, whose settings come from
`PLANSOURCE_<ORG>_<SETTING>` variables (e.g. PLANSOURCE_ACME_CLIENT_SECRET)."""

FILE_LOADERS = {"target-duckdb", "target-jsonl"}
"""Loaders that write local files (a DuckDB database allows one writer; JSON lines files are
named by stream): their partitions run one after the other unless the loader's config gives each
partition its own path with ${ORCHESTRATOR_PARTITION}."""

WHOLE_JOB = "all"
"""The name of the one run of a job without partitions (its op `<job>__all`, its directory)."""
SYSTEM_DATABASE = "system-database"
"""The name of the op and directory of `meltano upgrade database` before a job's partitions."""

SHORTHANDS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0"}
SHORTHANDS["@monthly"] = "0 0 1 * *"
SHORTHANDS["@yearly"] = "0 0 1 1 *"


class ProjectError(Exception):
    """The project or the runner's environment asks for something the orchestrator cannot do."""


@dataclass(frozen=True)
class Partition:
    """One `meltano run` of a job: `key` is its state ID suffix, `env` what it overrides."""

    key: str
    label: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """A Meltano job as the orchestrator runs it.

    `sequential` partitions run one after the other (Planhat objects: one writer per tenant,
    companies before the end users that point at them); the others run in parallel.
    """

    name: str
    tasks: list[str]
    partitions: list[Partition]
    sequential: bool = False


@dataclass(frozen=True)
class Schedule:
    name: str
    job: str
    cron: str


def slug(value: str) -> str:
    """A state ID suffix and op name part: lowercase letters, digits and dashes only (Meltano
    refuses `:` in a state ID component)."""
    text = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    if not text:
        msg = f"partition {value!r} has no letter or digit to name its state ID by"
        raise ProjectError(msg)
    return text


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


class MeltanoProject:
    """meltano.yml and its include_paths, read once; `environment` picks the config block that
    partitions fall back on when the runner's environment does not list them."""

    def __init__(self, root: Path, environment: str | None = None) -> None:
        self.root = root
        self.data = _load(root / "meltano.yml")
        chosen = environment or self.data.get("default_environment")
        if not chosen:
            msg = "no Meltano environment: set MELTANO_ENVIRONMENT or default_environment"
            raise ProjectError(msg)
        self.environment: str = chosen
        self.plugins: dict[str, dict[str, Any]] = {}
        files = [self.data]
        for pattern in self.data.get("include_paths") or []:
            files += [_load(path) for path in sorted(root.glob(pattern.removeprefix("./")))]
        for content in files:
            for plugins in (content.get("plugins") or {}).values():
                for plugin in plugins or []:
                    self.plugins[plugin["name"]] = plugin

    def base(self, name: str) -> str:
        """The plugin a (possibly inherited) plugin was derived from, at the root."""
        seen = name
        while (parent := self.plugins.get(seen, {}).get("inherit_from")) and parent != seen:
            seen = parent
        return seen

    def config(self, name: str) -> dict[str, Any]:
        """A plugin's config: its own, then the active environment's block over it."""
        merged = dict(self.plugins.get(name, {}).get("config") or {})
        for environment in self.data.get("environments") or []:
            if environment.get("name") != self.environment:
                continue
            for plugins in ((environment.get("config") or {}).get("plugins") or {}).values():
                for plugin in plugins or []:
                    if plugin.get("name") == name:
                        merged.update(plugin.get("config") or {})
        return merged

    def setting(self, plugin: str, name: str, env: dict[str, str]) -> Any:
        """A setting as Meltano would see it: the runner's variable first, then the files."""
        variable = f"{plugin}_{name}".upper().replace("-", "_")
        if variable in env:
            try:
                return json.loads(env[variable])
            except ValueError:
                msg = f"{variable} must be JSON (as Meltano reads it), e.g. '[\"Actual\"]'"
                raise ProjectError(msg) from None
        value = self.config(plugin).get(name)
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            try:  # an object or list written as JSON text in meltano.yml (Meltano parses it)
                return json.loads(value)
            except ValueError:
                msg = f"{plugin}: `{name}` in meltano.yml is not valid JSON"
                raise ProjectError(msg) from None
        return value

    def schedules(self) -> list[Schedule]:
        found = []
        for schedule in self.data.get("schedules") or []:
            interval = schedule.get("interval") or ""
            cron = SHORTHANDS.get(interval, interval)
            if schedule.get("job") and len(cron.split()) == 5:
                found.append(Schedule(schedule["name"], schedule["job"], cron))
        return found

    def jobs(self, env: dict[str, str] | None = None) -> list[Job]:
        env = dict(os.environ if env is None else env)
        jobs = []
        for job in self.data.get("jobs") or []:
            tasks = job["tasks"] if isinstance(job["tasks"], list) else [job["tasks"]]
            # the extractors, mappers and loaders (`utility:command` tasks run after them)
            plugins = [name for task in tasks for name in task.split() if ":" not in name]
            partitions, sequential = self._partitions(plugins, env)
            sequential = sequential or self._writes_one_file(plugins[-1])
            keys = [p.key for p in partitions]
            if len(set(keys)) != len(keys):
                msg = f"job {job['name']}: two partitions share a state ID suffix: {keys}"
                raise ProjectError(msg)
            if reserved := {WHOLE_JOB, SYSTEM_DATABASE} & set(keys):
                msg = f"job {job['name']}: a partition may not be named {sorted(reserved)}"
                raise ProjectError(msg)
            jobs.append(Job(job["name"], tasks, partitions, sequential))
        return jobs

    def _writes_one_file(self, loader: str) -> bool:
        return self.base(loader) in FILE_LOADERS and "ORCHESTRATOR_PARTITION" not in json.dumps(
            self.config(loader)
        )

    def _partitions(self, plugins: list[str], env: dict[str, str]) -> tuple[list[Partition], bool]:
        """The partitions of the first partitionable plugin of a job (a job without one is a
        single run, as `meltano run <job>`)."""
        for name in plugins:
            base = self.base(name)
            if base == PLANFUL and name == PLANFUL:
                return self._planful(env), False
            if base == PLANSOURCE and env.get(PLANSOURCE_ORGANISATIONS):
                return self._plansource(name, env), False
            if base == PLANHAT:
                return self._planhat(name, plugins[0]), True
        return [], False

    def _planful(self, env: dict[str, str]) -> list[Partition]:
        """One `gl_data` partition per scenario (its plan year kept), times the optional year
        ranges, and one partition for every other selected stream.

        The other streams (segments, currencies, Dynamic Planning…) do not depend on the
        scenario: read once, not once per scenario, and written by one process, so parallel
        partitions never upsert the same rows into the same tables at once (two transactions
        inserting one new key: the second fails on the primary key)."""
        scenarios = self.setting(PLANFUL, "scenarios", env) or []
        plan_years = self.setting(PLANFUL, "scenario_fiscal_years", env) or {}
        written = self.config(PLANFUL).get("scenario_fiscal_years")
        if isinstance(written, dict) and len(scenarios) > 1 and len(written) > 0:
            # Meltano merges a variable into an object written as a mapping in meltano.yml: a
            # partition could not narrow the plan years to its own scenario
            msg = (
                f"{PLANFUL}: write `scenario_fiscal_years` of environment {self.environment} as "
                "JSON text in meltano.yml ('{\"2025 Budget\": 2025}') or in "
                "TAP_PLANFUL_SCENARIO_FISCAL_YEARS: as a YAML mapping, Meltano merges each "
                "partition's plan year into it"
            )
            raise ProjectError(msg)
        ranges = [r.strip() for r in env.get(PLANFUL_YEAR_RANGES, "").split(",") if r.strip()]
        if not scenarios:
            return []
        only_gl = {PLANFUL_SELECT_FILTER: json.dumps([PLANFUL_PARTITIONED_STREAM])}
        partitions = []
        if not self._selects_only(PLANFUL, PLANFUL_PARTITIONED_STREAM, env):
            partitions.append(
                Partition(
                    PLANFUL_OTHER_STREAMS,
                    f"every selected stream but {PLANFUL_PARTITIONED_STREAM}",
                    {
                        PLANFUL_SELECT_FILTER: json.dumps([f"!{PLANFUL_PARTITIONED_STREAM}"]),
                        # the plan years of the scenarios read (the files may name more)
                        "TAP_PLANFUL_SCENARIO_FISCAL_YEARS": json.dumps(
                            {s: plan_years[s] for s in scenarios if s in plan_years}
                        ),
                    },
                )
            )
        for scenario in scenarios:
            # the tap refuses plan years of scenarios it was not given: narrow both
            own_year = {scenario: plan_years[scenario]} if scenario in plan_years else {}
            one = {
                **only_gl,
                "TAP_PLANFUL_SCENARIOS": json.dumps([scenario]),
                "TAP_PLANFUL_SCENARIO_FISCAL_YEARS": json.dumps(own_year),
            }
            if not ranges:
                partitions.append(Partition(slug(scenario), scenario, one))
                continue
            for years in ranges:
                start, _, end = years.partition("-")
                if not (start.isdigit() and end.isdigit() and int(start) <= int(end)):
                    msg = f"{PLANFUL_YEAR_RANGES}: {years!r} is not a range like 2022-2024"
                    raise ProjectError(msg)
                part = {"TAP_PLANFUL_START_FISCAL_YEAR": start, "TAP_PLANFUL_END_FISCAL_YEAR": end}
                partitions.append(
                    Partition(slug(f"{scenario}-{years}"), f"{scenario} {years}", {**one, **part})
                )
        return partitions

    def _selects_only(self, plugin: str, stream: str, env: dict[str, str]) -> bool:
        """Whether the plugin's `select` extra (its variable, else meltano.yml) names only
        properties of `stream` (a partition for the other streams would read nothing)."""
        variable = plugin.upper().replace("-", "_") + "__SELECT"
        if variable in env:
            try:
                patterns = json.loads(env[variable])
            except ValueError:
                msg = f"{variable} must be a JSON list of select patterns, e.g. '[\"gl_data.*\"]'"
                raise ProjectError(msg) from None
        else:
            patterns = self.plugins.get(plugin, {}).get("select") or []
        return bool(patterns) and all(str(p).startswith(f"{stream}.") for p in patterns)

    def _plansource(self, plugin: str, env: dict[str, str]) -> list[Partition]:
        """One partition per organisation; each organisation's `PLANSOURCE_<ORG>_<SETTING>`
        variables become the plugin's settings for its run only."""
        prefix = plugin.upper().replace("-", "_") + "_"
        partitions = []
        for organisation in env[PLANSOURCE_ORGANISATIONS].split(","):
            if not organisation.strip():
                continue
            key = slug(organisation)
            own = f"PLANSOURCE_{key.upper().replace('-', '_')}_"
            settings = {
                prefix + name.removeprefix(own): value
                for name, value in env.items()
                if name.startswith(own)
            }
            if not settings:
                msg = f"organisation {organisation.strip()!r} has no {own}* variables"
                raise ProjectError(msg)
            partitions.append(Partition(key, organisation.strip(), settings))
        return partitions

    def _planhat(self, plugin: str, extractor: str) -> list[Partition]:
        """One partition per Planhat object the extractor's stream maps produce: the target
        drops the other objects (its own stream maps) in each run."""
        maps = self.config(extractor).get("stream_maps") or {}
        objects = [
            (spec.get("__alias__") if isinstance(spec, dict) else None) or stream
            for stream, spec in maps.items()
            if spec not in ("__NULL__", None)
        ]
        if len(objects) < 2:
            return []
        variable = plugin.upper().replace("-", "_") + "_STREAM_MAPS"
        return [
            Partition(
                slug(name),
                name,
                {variable: json.dumps({other: "__NULL__" for other in objects if other != name})},
            )
            for name in objects
        ]
