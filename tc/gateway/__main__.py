"""`python -m tc.gateway`: the supervised process that runs the REST gateway's Envoy."""

from tc.gateway.process import main

main()
