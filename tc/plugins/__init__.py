"""Plugin processes: the SDK they are built on and the plugins that ship with the controller."""
