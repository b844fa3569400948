"""Code shared by the provisioning functions and the monitor: settings, logging, clients, plans, rendering."""
