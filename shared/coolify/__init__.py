"""The typed Coolify v4.3 API client (services, projects, servers, envs) and its dry-run transport."""
