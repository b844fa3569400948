"""Stateless provisioning: operations (provision, suspend, resume, delete, status), the CLI and event handlers."""
