"""The `dns` plugin: record sets for service and DNS intents, over RFC 2136 or in zone files."""
