"""Stand-ins for what cannot run here (no Kubernetes API server, no AWS): used by the
staging rehearsal (runbooks.rehearsal.staging) and the integration tests."""
