"""Data layer: readers (Duke MRI, mammography), phantoms, the store, and the store builders (slice export,
breast MIPs, mammography preprocessing) with their job runner."""
