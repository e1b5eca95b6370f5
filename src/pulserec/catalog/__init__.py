"""Items, their text, and raw id <-> dense index maps."""

from pulserec.catalog.catalog import Catalog
from pulserec.catalog.idmap import IdMap

__all__ = ["Catalog", "IdMap"]
