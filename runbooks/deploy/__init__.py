"""Deploy actions: put a version on one color of a service, and wait until it serves."""
