"""Heartbeats: checks micro-service endpoints and takes dead ones out of traffic."""
