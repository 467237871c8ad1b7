"""breastlab.curate: SpurBreast-style splits with controlled spurious correlations.

From a labelled slice table (an exported store's manifest, or the real Duke
metadata through :func:`duke_cohort`) it builds patient-level train / val /
test (/ tune) splits as index tables into the store (a split folder, :data:`breastlab.schemas.SPLIT`:
``manifest.parquet``, ``summary.json``, ``config.json``):

- baselines (random patients), spurious splits for any clinical column with two
  groups, image-transform splits (vertical flip, ...), all at correlation
  strength ``rho`` in [0.5, 1];
- :func:`scan_features`: which columns can carry such a split at given sizes;
- :func:`check_split`: verifies any split directory, including the published
  SpurBreast release imported by :func:`read_spurbreast_release`;
- for code outside breastlab: :func:`export_split` writes a split's images as PNG folders in
  the release's layout with a ``labels.csv``, and ``breastlab.curate.dataset.StoreDataset``
  (imported from its module: it loads torch) is a PyTorch ``Dataset`` over a store and a
  split; both read the split through ``split_store`` (:func:`load_split_manifest`,
  :func:`check_split_store`), as breastlab's trainer does.
"""

from breastlab.curate.check import Check, CheckReport, check_split, check_splits, find_split_dirs
from breastlab.curate.cohort import Cohort, as_cohort, duke_cohort, duke_slice_table
from breastlab.curate.features import GroupSpec
from breastlab.curate.release import ExportedSplit, ReleaseImport, export_split, read_spurbreast_release
from breastlab.curate.scan import scan_features, scan_table
from breastlab.curate.split_store import check_split_store, load_split_manifest
from breastlab.curate.splits import (
    Split,
    SplitConfig,
    allocate,
    build_split,
    build_splits,
    load_split,
    read_split,
    rebuild_split,
    splits_overview,
    splits_table,
    summarize,
    write_split,
)
from breastlab.curate.spurbreast import (
    PAPER_TABLE1,
    PAPER_TEST,
    SPURBREAST_FEATURES,
    build_spurbreast_configs,
    compare_with_paper,
    drop_last_tumour_slice,
)
from breastlab.transforms import TRANSFORMS, ImageTransform, apply_transforms, get_transform, register_transform

__all__ = [
    "PAPER_TABLE1",
    "PAPER_TEST",
    "SPURBREAST_FEATURES",
    "TRANSFORMS",
    "Check",
    "CheckReport",
    "Cohort",
    "ExportedSplit",
    "GroupSpec",
    "ImageTransform",
    "ReleaseImport",
    "Split",
    "SplitConfig",
    "allocate",
    "apply_transforms",
    "as_cohort",
    "build_split",
    "build_splits",
    "build_spurbreast_configs",
    "check_split",
    "check_split_store",
    "check_splits",
    "compare_with_paper",
    "drop_last_tumour_slice",
    "duke_cohort",
    "duke_slice_table",
    "export_split",
    "find_split_dirs",
    "get_transform",
    "load_split",
    "load_split_manifest",
    "read_split",
    "read_spurbreast_release",
    "rebuild_split",
    "register_transform",
    "scan_features",
    "scan_table",
    "splits_overview",
    "splits_table",
    "summarize",
    "write_split",
]
