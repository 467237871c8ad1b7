"""The eight SpurBreast configurations and the paper's Table 1, for comparison.

Won J.B., De Neve W., Vankerschaver J., Ozbulak U. *SpurBreast: A Curated
Dataset for Investigating Spurious Correlations in Real-world Breast MRI
Classification.* MICCAI 2025 (arXiv:2510.02109); release:
https://github.com/utkuozbulak/spurbreast.

Group A (tumour class in train/validation) per feature was chosen where the
paper does not say: the group whose mean tumour extent matches the paper's
images per patient (surgery type: BCS 19.6 slices vs the paper's 19.65;
menopause: pre; race: white; field strength: 1.5 T, the closer of two nearly
equal groups). Swap the groups to build the reverse correlation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastlab.curate.features import GroupSpec
from breastlab.curate.splits import Split, SplitConfig

# Release folder name -> (clinical column, group A values, group B values).
SPURBREAST_FEATURES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "race_and_ethnicity": ("race_ethnicity", ("white",), ("black",)),
    "menopause": ("menopause", ("pre",), ("post",)),
    "field_strength": ("field_strength_t", ("1.5",), ("3.0",)),
    "surgery_type": ("surgery_type", ("BCS",), ("mastectomy",)),
}

# Table 1 of the paper: (patients, images) per configuration and split.
PAPER_TEST = (150, 6788)
PAPER_TABLE1: dict[str, dict[str, tuple[int, int]]] = {
    "baseline_low": {"train": (150, 6490), "val": (150, 8032)},
    "baseline_mid": {"train": (400, 19252), "val": (150, 8032)},
    "baseline_high": {"train": (600, 29196), "val": (150, 8032)},
    "race_and_ethnicity": {"train": (200, 4974), "val": (100, 2408)},
    "menopause": {"train": (400, 10488), "val": (150, 4330)},
    "field_strength": {"train": (400, 9562), "val": (150, 3576)},
    "surgery_type": {"train": (400, 7860), "val": (150, 2916)},
    "vertical_flip": {"train": (500, 24138), "val": (150, 6926)},
}
CONFIG_NAMES = tuple(PAPER_TABLE1)


def build_spurbreast_configs(
    seed: int = 0,
    rho: float = 1.0,
    n_test: int = 150,
    n_tune: int = 0,
    negatives: str = "random",
    names: Sequence[str] | None = None,
) -> list[SplitConfig]:
    """The eight SpurBreast configurations (patient counts of the paper's Table 1).

    ``rho`` applies to the spurious and vertical-flip configurations (1.0 is
    the paper); the baselines have no correlation whatever ``rho`` is.
    """
    wanted = list(names) if names else list(CONFIG_NAMES)
    unknown = sorted(set(wanted) - set(CONFIG_NAMES))
    if unknown:
        from breastlab.errors import BreastlabInputError

        raise BreastlabInputError(f"unknown SpurBreast configuration(s) {unknown}; valid: {list(CONFIG_NAMES)}")
    common = {"n_test": n_test, "seed": seed, "n_tune": n_tune, "negatives": negatives}
    out = []
    for name in wanted:
        (n_train, _), (n_val, _) = PAPER_TABLE1[name]["train"], PAPER_TABLE1[name]["val"]
        if name.startswith("baseline"):
            cfg = SplitConfig(name, "baseline", n_train, n_val, **common)
        elif name == "vertical_flip":
            cfg = SplitConfig(name, "transform", n_train, n_val, transform="vflip", rho=rho, **common)
        else:
            column, a, b = SPURBREAST_FEATURES[name]
            cfg = SplitConfig(name, "spurious", n_train, n_val, groups=GroupSpec(column, a, b), rho=rho, **common)
        out.append(cfg)
    return out


def compare_with_paper(splits: Sequence[Split]) -> pd.DataFrame:
    """Our patient and image counts beside the paper's Table 1, with the spread over repeats.

    One row per (configuration, split) with the paper's patients and images,
    ours (patients: the set of values seen; images: mean, SD, min, max over the
    repeats), ``z`` = (paper - mean) / SD and whether the paper's figure lies
    within our [min, max].
    """
    recs = []
    for s in splits:
        name = s.config.name
        for split, e in s.summary["splits"].items():
            if split not in ("train", "val", "test"):
                continue
            paper = PAPER_TEST if split == "test" else PAPER_TABLE1.get(name, {}).get(split)
            recs.append(
                {
                    "config": name,
                    "split": split,
                    "repeat": s.config.repeat,
                    "patients": e["patients"],
                    "images": e["images"],
                    "paper_patients": paper[0] if paper else np.nan,
                    "paper_images": paper[1] if paper else np.nan,
                }
            )
    df = pd.DataFrame(recs)
    if df.empty:
        return df
    order = {n: i for i, n in enumerate(CONFIG_NAMES)}
    rows = []
    for (config, split), g in df.groupby(["config", "split"], sort=False):
        img = g["images"].to_numpy(float)
        sd = float(img.std(ddof=1)) if len(img) > 1 else float("nan")
        paper = g["paper_images"].iloc[0]
        rows.append(
            {
                "config": config,
                "split": split,
                "paper_patients": g["paper_patients"].iloc[0],
                "patients": "/".join(map(str, sorted(set(g["patients"])))),
                "paper_images": paper,
                "images_mean": float(img.mean()),
                "images_sd": sd,
                "images_min": int(img.min()),
                "images_max": int(img.max()),
                "z": (paper - img.mean()) / sd if sd and sd == sd else float("nan"),
                "paper_within_range": bool(img.min() <= paper <= img.max()) if paper == paper else False,
                "repeats": len(g),
            }
        )
    out = pd.DataFrame(rows)
    out["_o"] = out["config"].map(order).fillna(len(order))
    out["_s"] = out["split"].map({"train": 0, "val": 1, "test": 2})
    return out.sort_values(["_o", "_s"]).drop(columns=["_o", "_s"]).reset_index(drop=True)


def drop_last_tumour_slice(slices: pd.DataFrame) -> pd.DataFrame:
    """The slice table without each patient's last tumour slice (a sensitivity analysis).

    The paper's image counts fit ``End Slice - Start Slice`` tumour slices per
    patient (one fewer than Duke's inclusive box range, as a half-open range
    would give) better than the inclusive count breastlab uses; building the
    configurations from this table shows it (``docs/curation.md``). Not a
    labelling rule to use: Duke's boxes are inclusive.
    """
    tumour = slices["label"].to_numpy() == 1
    last = slices.loc[tumour].groupby("patient_id")["slice_index"].max()
    is_last = tumour & (slices["slice_index"].to_numpy() == slices["patient_id"].map(last).to_numpy())
    return slices.loc[~is_last].reset_index(drop=True)
