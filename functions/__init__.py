"""Stateless provisioning: operations (provision, suspend, resume, delete, status), CLI, event handlers."""
