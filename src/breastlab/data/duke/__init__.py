"""Duke-Breast-Cancer-MRI reader: clinical table, boxes, slice labels, DICOM tree."""
