"""`python -m tc.plugins.envoy`: the envoy (xDS) plugin process."""

from tc.plugins.envoy.plugin import EnvoyPlugin
from tc.plugins.sdk import run

if __name__ == "__main__":
    run(EnvoyPlugin)
