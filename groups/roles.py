"""The Django groups our data migrations create (see groups/migrations)."""

SUPPORT = "Support"
TENANT_ADMINS = "Tenant admins"
ROLE_NAMES = (SUPPORT, TENANT_ADMINS)
