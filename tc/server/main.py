"""Process entry point of the controller: settings in, exit code out.

`run_controller` is what `tcctl up` and `tcctl controller` call. It loads the plugin
configs (a bad file stops start-up with one clear line), runs the Controller until SIGTERM
or SIGINT, then drains and returns 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence

from tc import tls
from tc.server import auth, logs
from tc.server.app import Controller
from tc.server.plugin_config import PluginConfig, PluginConfigError, load_plugin_configs
from tc.server.settings import ControllerSettings

log = logging.getLogger("tc.controller")


async def serve(
    settings: ControllerSettings,
    stop: asyncio.Event | None = None,
    auxiliaries: Sequence[PluginConfig] = (),
) -> None:
    configs = load_plugin_configs(settings.plugins_dir)
    controller = Controller(settings, configs)
    # Supervised processes that are not plugins, e.g. the REST gateway (tcctl up).
    for auxiliary in auxiliaries:
        controller.supervisor.add_auxiliary(auxiliary)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await controller.start()
    # Everything allocated so far lives as long as the process: keep the collector off it,
    # and collect young objects less often. With default thresholds a full collection over
    # 10,000 mirrored intents stalls the event loop for tens of milliseconds.
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    try:
        await stop.wait()
    finally:
        await controller.stop()


def run_controller(settings: ControllerSettings, auxiliaries: Sequence[PluginConfig] = ()) -> int:
    logs.configure(json_lines=settings.log_json, level=settings.log_level)
    try:
        asyncio.run(serve(settings, auxiliaries=auxiliaries))
    except PluginConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (auth.InsecureBindError, auth.TokensFileError, tls.TlsConfigError) as exc:
        # A security setup that cannot work is a configuration error, like a bad plugin.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
