"""The six classification scenarios of Aboutalib et al. (Clin Cancer Res 2018;24:5902-5909).

Image labels (:data:`breastlab.data.mammo.vocabulary.IMAGE_LABELS`): ``negative``,
``recalled-benign``, ``malignant``. A binary scenario keeps the images of the classes
it names and sets ``y = 1`` for its positive class(es); the three-class scenario keeps
every image with ``y`` = the label's index in :data:`CLASSES` (0 negative, 1
recalled-benign, 2 malignant).

=========================  ==============================================  =======
name                       positive (y = 1)          negative (y = 0)       classes
=========================  ==============================================  =======
``malignant_vs_rest``      malignant                 negative + recalled-b.  2
``malignant_vs_negative``  malignant                 negative                2
``malignant_vs_recalled``  malignant                 recalled-benign         2
``recalled_vs_negative``   recalled-benign           negative                2
``recalled_vs_rest``       recalled-benign           malignant + negative    2
``three_class``            --                        --                      3
=========================  ==============================================  =======
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from breastlab.errors import BreastlabInputError

CLASSES = ("negative", "recalled-benign", "malignant")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One task: ``positive``/``negative`` label sets (binary) or all of :data:`CLASSES` (multi-class)."""

    name: str
    title: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @property
    def multiclass(self) -> bool:
        return not self.positive

    @property
    def num_classes(self) -> int:
        return len(CLASSES) if self.multiclass else 2

    @property
    def classes(self) -> tuple[str, ...]:
        """Label sets in output order: column j of a model's probabilities belongs to ``classes[j]``."""
        if self.multiclass:
            return CLASSES
        return (" + ".join(self.negative), " + ".join(self.positive))

    def select(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(keep, y)``: boolean mask of the images the scenario uses and their integer targets (kept ones only).

        Raises if a label is not one of :data:`CLASSES`.
        """
        lab = np.asarray([str(v) for v in labels], dtype=object)
        bad = sorted(set(lab.tolist()) - set(CLASSES))
        if bad:
            raise BreastlabInputError(f"image labels {bad} are not image classes; valid: {list(CLASSES)}")
        if self.multiclass:
            code = {c: i for i, c in enumerate(CLASSES)}
            return np.ones(lab.size, bool), np.array([code[v] for v in lab], np.int64)
        pos = np.isin(lab, self.positive)
        keep = pos | np.isin(lab, self.negative)
        return keep, pos[keep].astype(np.int64)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "malignant_vs_rest",
            "malignant vs negative + recalled-benign",
            ("malignant",),
            ("negative", "recalled-benign"),
        ),
        Scenario("malignant_vs_negative", "malignant vs negative", ("malignant",), ("negative",)),
        Scenario("malignant_vs_recalled", "malignant vs recalled-benign", ("malignant",), ("recalled-benign",)),
        Scenario("recalled_vs_negative", "negative vs recalled-benign", ("recalled-benign",), ("negative",)),
        Scenario(
            "recalled_vs_rest",
            "recalled-benign vs malignant + negative",
            ("recalled-benign",),
            ("malignant", "negative"),
        ),
        Scenario("three_class", "negative vs recalled-benign vs malignant", (), ()),
    )
}
BINARY_SCENARIOS = tuple(n for n, s in SCENARIOS.items() if not s.multiclass)


def get_scenario(name: str | Scenario) -> Scenario:
    """A scenario by name (see the module table)."""
    if isinstance(name, Scenario):
        return name
    if name not in SCENARIOS:
        raise BreastlabInputError(f"scenario {name!r}: valid scenarios are {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def parse_scenarios(spec: str | Sequence[str]) -> list[Scenario]:
    """``"all"``, a comma-separated string or a list of names -> scenarios (in the table's order for "all")."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return list(SCENARIOS.values())
    if not names:
        raise BreastlabInputError(f"no scenario given; valid: all, {', '.join(SCENARIOS)}")
    return [get_scenario(n) for n in names]
