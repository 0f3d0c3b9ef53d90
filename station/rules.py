"""Rule sets as data: what a measurement must satisfy to be valid, each rule with its source.

A rule set is a JSON file in ``resources/rules/`` (``mlperf-inference``, ``mlperf-tiny``,
``mlperf-training``, ``lab``) or any path. Its shape::

    {"name": "mlperf-inference", "title": "...", "description": "...",
     "metric": "mlperf-inference" | "tiny-energy" | "training-energy" | "average-power",
     "window_sources": ["loadgen", "gpio", "marks", "command"],   # accepted, in order of preference
     "parameters": {"min_testing_s": {"value": 600, "unit": "s", "rule": "...", "source": "..."}, ...}}

Every parameter is one of :func:`parameter_specs` (the procedure's and metric's parameters in
:data:`PARAMETERS`, and those each rule module of :mod:`station.measurement.checks` declares; a
typo is an error naming the file and key) and
states the rule in words and its source (document and section). A parameter may be ``null``
(not checked). Overrides (``--set min_testing_s=5``) make a "short" variant for tests and
rehearsals; they are kept in the loaded rule set (:attr:`RuleSet.overrides`) and the review
reports them, because a result with overridden rules is not a compliant one.

The official rule sets (:data:`OFFICIAL_RULE_SETS`) are the shipped files of the three MLPerf
benchmarks; :func:`official_deviations` says why a session's rule set is not one of them as
shipped (another rule set, overrides, parameters that differ from the shipped file).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resources import resource_path

RULES_DIR = "rules"
METRICS = ("mlperf-inference", "tiny-energy", "training-energy", "average-power")
WINDOW_SOURCES = ("loadgen", "gpio", "marks", "command")
# The rule sets of official benchmarks: a result is compliant only under one of these, unmodified.
OFFICIAL_RULE_SETS = ("mlperf-inference", "mlperf-tiny", "mlperf-training")


@dataclass(frozen=True)
class ParamSpec:
    """Type and bounds of a rule parameter."""

    kind: str  # "float", "int", "bool", "str"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


# Parameters that shape the procedure and the metric. The parameters a check judges by are
# declared by its rule module (station.measurement.checks.*: PARAMETERS), so a new rule
# parameter is one module and one JSON field.
PARAMETERS: dict[str, ParamSpec] = {
    "sample_interval_s": ParamSpec("float", 1e-6, 60.0),
    "current_headroom": ParamSpec("float", 1.0, 10.0),
    "settle_s": ParamSpec("float", 0.0, 3600.0),
    "window_statistic": ParamSpec("str", choices=("median", "mean")),
    "conversion_efficiency": ParamSpec("float", 0.01, 1.0),
    "interconnect_power_w": ParamSpec("float", 0.0),
    "interconnect_provisioning": ParamSpec("float", 0.0, 1.0),
}


def parameter_specs() -> dict[str, ParamSpec]:
    """Every known rule parameter: the procedure's and metric's, and those of each rule module."""
    from station.measurement.checks.catalogue import RULES

    specs = dict(PARAMETERS)
    for module in RULES:
        specs.update(module.PARAMETERS)
    return specs


class RuleError(ValueError):
    """A rule file or an override is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any
    unit: str = ""
    rule: str = ""
    source: str = ""


@dataclass
class RuleSet:
    """A loaded, validated rule set (with any overrides applied)."""

    name: str
    title: str
    description: str
    metric: str
    window_sources: tuple[str, ...]
    parameters: dict[str, Parameter]
    path: str
    sha256: str
    overrides: dict[str, dict] = field(default_factory=dict)  # name -> {"from": old, "to": new}

    def get(self, name: str, default: Any = None) -> Any:
        """The value of a parameter (None when the rule set does not have it or sets it null)."""
        if name not in parameter_specs():
            raise KeyError(f"no rule parameter {name!r}")
        p = self.parameters.get(name)
        return default if p is None or p.value is None else p.value

    def source(self, name: str) -> str:
        p = self.parameters.get(name)
        return f"{self.name}: {p.source}" if p is not None and p.source else self.name

    def rule(self, name: str) -> str:
        p = self.parameters.get(name)
        return p.rule if p is not None else ""

    def with_overrides(self, items: dict[str, Any] | list[str]) -> RuleSet:
        """A copy with parameters replaced; ``items`` as {name: value} or ["name=value", ...]."""
        pairs: list[tuple[str, Any]] = []
        if isinstance(items, dict):
            pairs = list(items.items())
        else:
            for text in items:
                key, sep, value = str(text).partition("=")
                if not sep or not key.strip():
                    raise RuleError(f"override {text!r} must look like name=value (e.g. min_testing_s=5)")
                pairs.append((key.strip(), value.strip()))
        params = dict(self.parameters)
        overrides = dict(self.overrides)
        specs = parameter_specs()
        for key, raw in pairs:
            if key not in specs:
                raise RuleError(f"override {key}={raw}: no rule parameter {key!r}; known: "
                                f"{', '.join(sorted(specs))}")
            value = _convert(key, raw, f"override {key}")
            old = params.get(key)
            params[key] = Parameter(key, value, old.unit if old else "",
                                    old.rule if old else "", (old.source if old else "")
                                    + " [overridden for this session]")
            first = overrides.get(key, {}).get("from", old.value if old else None)
            overrides[key] = {"from": first, "to": value}
        return RuleSet(self.name, self.title, self.description, self.metric, self.window_sources,
                       params, self.path, self.sha256, overrides)

    @property
    def official(self) -> bool:
        """An official benchmark's rule set exactly as shipped (no overrides, no changed parameter)."""
        return not official_deviations(self.to_dict())

    def to_dict(self) -> dict:
        """What ``rules.json`` of a session holds."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "metric": self.metric,
            "window_sources": list(self.window_sources),
            "file": self.path,
            "file_sha256": self.sha256,
            "overrides": self.overrides,
            "parameters": {k: {"value": p.value, "unit": p.unit, "rule": p.rule, "source": p.source}
                           for k, p in self.parameters.items()},
            # the list the bundle report shows
            "rules": [{"name": k, "value": p.value, "unit": p.unit, "rule": p.rule, "source": p.source}
                      for k, p in self.parameters.items()],
        }


def available() -> list[str]:
    """Names of the shipped rule sets."""
    return sorted(p.stem for p in resource_path(RULES_DIR).glob("*.json"))


def load(name_or_path: str | os.PathLike, overrides: dict | list[str] | None = None) -> RuleSet:
    """Load a shipped rule set by name, or a rule file by path; apply ``overrides``."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".json") or os.sep in text or "/" in text):
        path = resource_path(RULES_DIR, f"{text}.json")
        if not path.is_file():
            raise RuleError(f"no rule set {text!r}; the station has {', '.join(available())} "
                            "(or give the path of a rule file)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    rs = parse(data, str(path), hashlib.sha256(raw).hexdigest())
    return rs.with_overrides(overrides) if overrides else rs


def parse(data: Any, where: str = "<rules>", sha256: str = "") -> RuleSet:
    """Validate a rule set given as parsed JSON; errors name ``where`` and the key."""
    if not isinstance(data, dict):
        raise RuleError(f"{where}: a rule set is a JSON object")
    for key in ("name", "metric", "parameters"):
        if key not in data:
            raise RuleError(f"{where}: key {key!r} is missing")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise RuleError(f"{where}: key 'name' must be a non-empty string")
    if data["metric"] not in METRICS:
        raise RuleError(f"{where}: key 'metric' is {data['metric']!r}; expected one of {', '.join(METRICS)}")
    sources = data.get("window_sources", list(WINDOW_SOURCES))
    if not isinstance(sources, list) or not sources or any(s not in WINDOW_SOURCES for s in sources):
        raise RuleError(f"{where}: key 'window_sources' must be a non-empty list of {', '.join(WINDOW_SOURCES)}")
    params_in = data["parameters"]
    if not isinstance(params_in, dict):
        raise RuleError(f"{where}: key 'parameters' must be an object")
    params: dict[str, Parameter] = {}
    specs = parameter_specs()
    for key, item in params_in.items():
        at = f"{where}: parameters.{key}"
        if key not in specs:
            raise RuleError(f"{at}: unknown rule parameter; known: {', '.join(sorted(specs))}")
        if not isinstance(item, dict) or "value" not in item:
            raise RuleError(f"{at}: must be an object with 'value', 'rule' and 'source'")
        for text_key in ("rule", "source"):
            if not isinstance(item.get(text_key), str) or not item[text_key].strip():
                raise RuleError(f"{at}.{text_key}: every rule states it in words and names its source")
        value = None if item["value"] is None else _convert(key, item["value"], at + ".value")
        params[key] = Parameter(key, value, str(item.get("unit", "")), item["rule"], item["source"])
    for key in ("sample_interval_s",):
        if key not in params or params[key].value is None:
            raise RuleError(f"{where}: parameters.{key} is required")
    return RuleSet(name, str(data.get("title", name)), str(data.get("description", "")), data["metric"],
                   tuple(sources), params, where, sha256)


def _convert(key: str, value: Any, at: str) -> Any:
    spec = parameter_specs()[key]
    try:
        if spec.kind == "bool":
            if isinstance(value, bool):
                out: Any = value
            elif str(value).lower() in ("1", "true", "yes", "on"):
                out = True
            elif str(value).lower() in ("0", "false", "no", "off"):
                out = False
            else:
                raise ValueError
        elif spec.kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        elif spec.kind == "float":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
        else:
            out = str(value)
    except (TypeError, ValueError):
        raise RuleError(f"{at}: {value!r} is not a valid {spec.kind}") from None
    if spec.choices and out not in spec.choices:
        raise RuleError(f"{at}: {out!r} is not one of {', '.join(spec.choices)}")
    if spec.minimum is not None and out < spec.minimum:
        raise RuleError(f"{at}: {out} is below the smallest allowed value {spec.minimum:g}")
    if spec.maximum is not None and out > spec.maximum:
        raise RuleError(f"{at}: {out} is above the largest allowed value {spec.maximum:g}")
    return out


def rules_from_session(data: dict, where: str = "rules.json") -> RuleSet:
    """The rule set as a session's ``rules.json`` holds it (overrides already applied)."""
    rs = parse(data, where, str(data.get("file_sha256", "")))
    rs.path = str(data.get("file", where))
    rs.overrides = dict(data.get("overrides") or {})
    return rs


def official_deviations(rules: dict | None) -> list[str]:
    """Why the rule set ``rules`` (a session's ``rules.json`` form) is not an official one as shipped.

    Empty when it is: its name is one of :data:`OFFICIAL_RULE_SETS`, nothing was overridden and
    every parameter has the value of the shipped file. Parameters are compared rather than file
    hashes so that a reworded description does not make a result non-compliant.
    """
    if not isinstance(rules, dict) or not rules.get("name"):
        return ["no rule set recorded"]
    name = str(rules["name"])
    if name not in OFFICIAL_RULE_SETS:
        return [f"{name} rule set (not an official benchmark's)"]
    out = []
    overrides = rules.get("overrides") or {}
    if isinstance(overrides, dict) and overrides:
        out.append("rules overridden (--set): " + ", ".join(
            f"{k} {v.get('from')} -> {v.get('to')}" if isinstance(v, dict) else str(k)
            for k, v in sorted(overrides.items())))  # sorted: the same words before and after export
    try:
        shipped = load(name)
    except RuleError as exc:  # pragma: no cover - the shipped files are tested
        return out + [f"the shipped {name} rule set cannot be read to compare with: {exc}"]
    recorded = rules.get("parameters")
    if not isinstance(recorded, dict):
        return out + [f"the recorded {name} rule set lists no parameters"]
    changed = []
    for key in sorted(set(recorded) | set(shipped.parameters)):
        if isinstance(overrides, dict) and key in overrides:
            continue  # already said
        want = shipped.parameters[key].value if key in shipped.parameters else None
        item = recorded.get(key)
        got = item.get("value") if isinstance(item, dict) else None
        if key not in recorded or key not in shipped.parameters or got != want:
            changed.append(f"{key} {got} (official {want})")
    if changed:
        out.append(f"parameters differ from the official {name} rule set: " + ", ".join(changed))
    return out
