"""Authentication (none, JWT, API keys, Unix peer identity, PAM) and role-based permissions."""
