"""Stand-ins for services that cannot run on this machine (see each module's docstring)."""
