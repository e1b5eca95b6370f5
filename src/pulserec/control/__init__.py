"""Operator control: typed item properties, filter and boost expressions compiled to
masks over the catalog."""

from pulserec.control.properties import BUILT_IN, Kind, Properties, PropertyError, kind_of

__all__ = ["BUILT_IN", "Kind", "Properties", "PropertyError", "kind_of"]
