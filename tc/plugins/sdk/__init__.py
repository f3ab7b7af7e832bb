"""What a plugin process is made of: a Plugin subclass, served by `run()`.

A plugin implements five coroutines (describe, apply, remove, sync, get_state); the SDK
serves them as tc.v1.PluginService with grpc.health.v1 and reflection, binds the address
the supervisor gave it and prints the handshake line.
"""

from tc.plugins.sdk.plugin import Plugin, PluginInfo, PluginState, applied_intents
from tc.plugins.sdk.results import accepted_false, programmed, programmed_false
from tc.plugins.sdk.server import PluginServer, run

__all__ = [
    "Plugin",
    "PluginInfo",
    "PluginServer",
    "PluginState",
    "accepted_false",
    "applied_intents",
    "programmed",
    "programmed_false",
    "run",
]
