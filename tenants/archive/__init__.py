"""The portable organization archive: one encrypted, checksummed file holding everything of one
organization, and its restore into a new tenant on this instance or another (``export_tenant``,
``import_tenant``, ``POST /api/platform/v1/tenants/{organization_id}/archive``).

* ``tenants.archive.container``: the file format (framing, AES-256-GCM per chunk, SHA-256, keys).
* ``tenants.archive.export``: what goes in (every table of the tenant schema, found in the catalog).
* ``tenants.archive.restore``: verification first, then provisioning and the restore.
"""
