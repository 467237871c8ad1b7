"""breastlab.data: the public data sets as they ship, the phantoms, and the store every later step reads.

``duke``: Duke-Breast-Cancer-MRI (clinical table, boxes, slice labels, DICOM tree); ``mammo``:
CBIS-DDSM, VinDr-Mammo and mini-MIAS readers and mammography preprocessing; ``phantom``: MRI and
mammography phantom cohorts in the real formats; ``store``: the manifest + array store;
``export``: DICOM slices into a store; ``runner``: the parallel, resumable per-patient job runner
the store builders share.
"""
