"""The job runner of the store builders: one error policy, in this process and in workers."""

from __future__ import annotations

import pytest

from breastlab.data.runner import JobRunner
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog


def square_or_fail(job: int) -> int:
    if job == 3:
        raise BreastlabInputError("patient 3: unreadable series x.dcm")
    if job == 5:
        raise ZeroDivisionError("division by zero")
    return job * job


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_jobs_are_listed_and_the_others_go_on(workers: int) -> None:
    problems, results = ProblemLog(), {}
    with JobRunner(workers, problems, "test", progress=False) as runner:
        runner.run(square_or_fail, range(7), key=str, on_result=results.__setitem__,
                   before_results=lambda: {"6"})  # fmt: skip
    assert results == {0: 0, 1: 1, 2: 4, 4: 16}  # 6 was no longer wanted
    assert problems.to_frame().values.tolist() == [
        ["3", "test", "patient 3: unreadable series x.dcm"],
        ["5", "test", "ZeroDivisionError: division by zero"],
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_raise_stops_at_the_first_failure(workers: int) -> None:
    with (
        pytest.raises(BreastlabInputError, match="patient 3"),
        JobRunner(workers, ProblemLog(), "test", errors="raise", progress=False) as runner,
    ):
        runner.run(square_or_fail, [1, 3], key=str)


def test_bad_arguments() -> None:
    with pytest.raises(BreastlabInputError, match="workers"):
        JobRunner(0, ProblemLog(), "test")
    with pytest.raises(BreastlabInputError, match="errors"):
        JobRunner(1, ProblemLog(), "test", errors="ignore")
