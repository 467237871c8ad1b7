"""breastlab: breast-imaging AI research toolkit.

Subpackages, one per capability: ``data`` (readers, phantoms, the manifest +
array store data model), ``curate`` (SpurBreast splits), ``models`` (registry),
``train``, ``evaluate`` (statistics, MRMC), ``report`` (HTML), and later
``anomaly`` and ``detect``.
"""

__version__ = "0.1.0"
