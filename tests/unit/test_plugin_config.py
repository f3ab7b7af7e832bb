"""Plugin config files: defaults, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tc.server.plugin_config import PluginConfigError, load_plugin_configs, parse_plugin_config


def test_defaults() -> None:
    config = parse_plugin_config("name: envoy\nmodule: tc.plugins.envoy\n", "envoy.yaml")
    assert config.replicas == 2
    assert config.listen_address(1) == "127.0.0.1:0"
    assert config.settings == {}


def test_listen_per_instance() -> None:
    config = parse_plugin_config(
        "name: envoy\nmodule: m\nlisten: ['127.0.0.1:18000', '127.0.0.1:18001']\n", "f"
    )
    assert config.listen_address(1) == "127.0.0.1:18001"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "exactly one of module or command"),
        ("name: x\nmodule: m\ncommand: [a]\n", "exactly one of module or command"),
        ("name: X_Y\nmodule: m\n", "name: 'X_Y' must be a DNS-1123 label"),
        ("name: x\nmodule: m\nreplicas: 1\n", "replicas: 1 leaves no instance to fail over to"),
        ("name: x\nmodule: m\nreplicas: 0\nallow_single_replica: true\n", "replicas"),
        ("name: x\nmodule: m\nlisten: ['127.0.0.1:1']\n", "listen: has 1 addresses for 2"),
        ("name: x\nmodule: m\nlisten: ['a', 'b:1']\n", "listen[0]: 'a' is not host:port"),
        ("name: x\nmodule: m\nbogus: 1\n", "bogus"),
        ("- a\n", "must be a mapping"),
        ("name: [\n", "not valid YAML"),
    ],
)
def test_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(PluginConfigError, match=r"^bad\.yaml: ") as info:
        parse_plugin_config(text, "bad.yaml")
    assert message in str(info.value)


def test_single_replica_when_allowed() -> None:
    config = parse_plugin_config(
        "name: x\nmodule: m\nreplicas: 1\nallow_single_replica: true\n", "f"
    )
    assert config.replicas == 1


def test_directory_loads_in_order_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("name: b\nmodule: m\n")
    (tmp_path / "a.yml").write_text("name: a\ncommand: [./plugin]\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [c.name for c in load_plugin_configs(tmp_path)] == ["a", "b"]
    (tmp_path / "c.yaml").write_text("name: a\nmodule: m\n")
    with pytest.raises(PluginConfigError, match="also used by"):
        load_plugin_configs(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PluginConfigError, match="does not exist"):
        load_plugin_configs(tmp_path / "nope")


def test_shipped_configs_load() -> None:
    root = Path(__file__).resolve().parents[2]
    configs = load_plugin_configs(root / "config" / "plugins.d")
    assert configs, "config/plugins.d ships at least one plugin for `make up`"
