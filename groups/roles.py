"""The Django groups our data migrations create (see groups/migrations)."""

SUPPORT = "Support"
TENANT_ADMINS = "Tenant admins"
GROUP_EDITORS = "Group editors"
ROLE_NAMES = (SUPPORT, TENANT_ADMINS, GROUP_EDITORS)
