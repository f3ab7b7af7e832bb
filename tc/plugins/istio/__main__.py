"""`python -m tc.plugins.istio`: the istio plugin process."""

from tc.plugins.istio.plugin import IstioPlugin
from tc.plugins.sdk import run

if __name__ == "__main__":
    run(IstioPlugin)
