"""`breastlab demo`: the main job on the built-in phantom cohort."""

from __future__ import annotations


def run_demo(out: str = "demo_out", patients: int | None = None, seed: int = 0) -> None:
    raise NotImplementedError("the demo is assembled once the data layer lands")
