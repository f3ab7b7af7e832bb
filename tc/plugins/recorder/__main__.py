"""`python -m tc.plugins.recorder`: the recorder plugin process."""

from tc.plugins.recorder.plugin import RecorderPlugin
from tc.plugins.sdk import run

if __name__ == "__main__":
    run(RecorderPlugin)
