"""Every kind of import, by its ``type`` (``apps.imports.base.Importer``)."""
