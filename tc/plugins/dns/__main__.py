"""`python -m tc.plugins.dns`: the dns plugin process."""

from tc.plugins.dns.plugin import DnsPlugin
from tc.plugins.sdk import run

if __name__ == "__main__":
    run(DnsPlugin)
