"""Data layer: readers (Duke MRI, later mammography), phantoms, and the store."""
