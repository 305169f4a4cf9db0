"""The window's parts, each a widget over the controller and the bridge."""
