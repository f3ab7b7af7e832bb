"""Plugin configs: one YAML file per plugin in a directory (config/plugins.d/ by default).

A config says how to start the plugin's processes (a Python module, or a command so plugins
in any language fit), how many instances, where each listens, and the settings handed to
the plugin. Errors name the file and the field, and a bad file stops start-up: running
with a plugin silently missing would leave intents half-applied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class PluginConfigError(ValueError):
    """A plugin config file is missing, unreadable or invalid."""


class PluginConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    # Exactly one of module (run as `python -m module` with this interpreter) or command.
    module: str | None = None
    command: list[str] | None = None
    replicas: int = Field(default=2, ge=1, le=16)
    # Fewer than 2 replicas leaves no instance to fail over to; allowed only when said so.
    allow_single_replica: bool = False
    # One address per instance (host:port, port 0 allowed); empty means 127.0.0.1:0 for all.
    listen: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> PluginConfig:
        if not _NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} must be a DNS-1123 label")
        if (self.module is None) == (self.command is None):
            raise ValueError("exactly one of module or command must be set")
        if self.command is not None and not self.command:
            raise ValueError("command: must not be empty")
        if self.replicas < 2 and not self.allow_single_replica:
            raise ValueError(
                f"replicas: {self.replicas} leaves no instance to fail over to; "
                "set allow_single_replica: true to run fewer than 2"
            )
        if self.listen and len(self.listen) != self.replicas:
            raise ValueError(
                f"listen: has {len(self.listen)} addresses for {self.replicas} replicas"
            )
        for i, address in enumerate(self.listen):
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f"listen[{i}]: {address!r} is not host:port")
        return self

    def listen_address(self, index: int) -> str:
        return self.listen[index] if self.listen else "127.0.0.1:0"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_plugin_config(text: str, source: str) -> PluginConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PluginConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PluginConfigError(f"{source}: must be a mapping")
    try:
        return PluginConfig.model_validate(data)
    except ValidationError as exc:
        raise PluginConfigError(f"{source}: {_describe(exc)}") from exc


def load_plugin_configs(directory: Path) -> list[PluginConfig]:
    """Every *.yaml / *.yml in `directory`, in file-name order; names must be unique."""
    if not directory.is_dir():
        raise PluginConfigError(f"{directory}: plugin config directory does not exist")
    configs: list[PluginConfig] = []
    seen: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PluginConfigError(f"{path}: {exc.strerror}") from exc
        config = parse_plugin_config(text, str(path))
        if config.name in seen:
            raise PluginConfigError(
                f"{path}: name {config.name!r} is also used by {seen[config.name]}"
            )
        seen[config.name] = path
        configs.append(config)
    return configs
