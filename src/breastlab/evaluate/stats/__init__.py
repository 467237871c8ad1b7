"""Statistics for ROC analysis and reader studies, exact against R's pROC.

Plain functions on arrays returning small dataclasses. Scores: higher means
"more likely positive" (``direction="<"``, pROC's convention) unless
``direction=">"``. Bad input raises :class:`breastlab.errors.BreastlabInputError`;
degenerate but valid input warns with :class:`DegenerateCIWarning`.

================================  =====================================================
``roc_curve``, ``auc``            empirical ROC (pROC thresholds), Mann-Whitney AUC
``var_auc``, ``ci_auc``           DeLong (or Hanley-McNeil) variance, DeLong/bootstrap CI
``delong_cov``, ``delong_test``   k columns at once; paired and unpaired DeLong tests
``bootstrap_ci``/``_metrics``     stratified, simple or clustered percentile CIs
``bootstrap_test``                bootstrap test of two AUCs
``youden``, ``coords_best``       Youden-optimal threshold(s)
``partial_auc``                   partial AUC over a specificity/sensitivity range, McClish
``smooth_roc``                    binormal or kernel-density smoothed ROC curve and its AUC (bootstrap: smooth=)
``coords``, ``best_threshold``    pROC's coords; best by youden/closest.topleft, best.weights
``pr_curve``, ``pr_auc``          precision-recall points and average precision
``ci_se``, ``ci_sp``, ...         bootstrap CIs of operating points (ci_thresholds, ci_coords, also at "best")
``roc_test``                      delong, bootstrap, venkatraman, sensitivity/specificity tests
``power_*``                       power / sample size / detectable AUC (Obuchowski)
``sensitivity_at_specificity``    and ``specificity_at_sensitivity``
``multiclass_auc``                Hand & Till (2001)
``cohen_kappa``                   unweighted / linear / quadratic, SE, CI, p, Landis-Koch
``wilcoxon_signed_rank``          with median (min–max); ``shapiro_wilk``
``reader_study``                  the four tables of a DNN-assisted reader study
``simulate_reader_study``         synthetic reader-study data
``simulate_aided_reader_study``   simulated readers aided by a real model's case scores
================================  =====================================================
"""

from breastlab.evaluate.stats._validate import DegenerateCIWarning
from breastlab.evaluate.stats.agreement import KappaResult, cohen_kappa, kappa_from_table, landis_koch
from breastlab.evaluate.stats.bootstrap import (
    BootstrapCI,
    BootstrapTest,
    bootstrap_ci,
    bootstrap_metrics,
    bootstrap_test,
    cluster_bootstrap_weights,
)
from breastlab.evaluate.stats.ci_coords import ci_coords, ci_se, ci_sp, ci_thresholds
from breastlab.evaluate.stats.coords import best_threshold, coords, pr_auc, pr_curve
from breastlab.evaluate.stats.delong import AucCI, DeLongTest, ci_auc, delong_cov, delong_test, var_auc
from breastlab.evaluate.stats.multiclass import MulticlassAUC, multiclass_auc
from breastlab.evaluate.stats.operating import (
    OperatingPoint,
    coords_best,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    youden,
)
from breastlab.evaluate.stats.paired import (
    ShapiroResult,
    WilcoxonResult,
    median_range,
    shapiro_wilk,
    wilcoxon_signed_rank,
)
from breastlab.evaluate.stats.partial import PartialAucWarning, partial_auc
from breastlab.evaluate.stats.power import (
    PowerResult,
    power_one_curve,
    power_one_pilot,
    power_two_binormal,
    power_two_pilot,
)
from breastlab.evaluate.stats.reader_study import ReaderStudyResult, reader_study
from breastlab.evaluate.stats.roc import RocCurve, auc, roc_curve
from breastlab.evaluate.stats.roc_test import RocTest, roc_test
from breastlab.evaluate.stats.simulate import simulate_aided_reader_study, simulate_reader_study
from breastlab.evaluate.stats.smooth import SmoothRoc, smooth_roc

__all__ = [
    "AucCI",
    "BootstrapCI",
    "BootstrapTest",
    "DeLongTest",
    "DegenerateCIWarning",
    "KappaResult",
    "MulticlassAUC",
    "OperatingPoint",
    "PartialAucWarning",
    "PowerResult",
    "ReaderStudyResult",
    "RocCurve",
    "RocTest",
    "ShapiroResult",
    "SmoothRoc",
    "WilcoxonResult",
    "auc",
    "best_threshold",
    "bootstrap_ci",
    "cluster_bootstrap_weights",
    "bootstrap_metrics",
    "bootstrap_test",
    "ci_auc",
    "ci_coords",
    "ci_se",
    "ci_sp",
    "ci_thresholds",
    "cohen_kappa",
    "coords",
    "coords_best",
    "delong_cov",
    "delong_test",
    "kappa_from_table",
    "landis_koch",
    "median_range",
    "multiclass_auc",
    "partial_auc",
    "power_one_curve",
    "power_one_pilot",
    "power_two_binormal",
    "power_two_pilot",
    "pr_auc",
    "pr_curve",
    "reader_study",
    "roc_curve",
    "roc_test",
    "sensitivity_at_specificity",
    "shapiro_wilk",
    "simulate_aided_reader_study",
    "simulate_reader_study",
    "smooth_roc",
    "specificity_at_sensitivity",
    "var_auc",
    "wilcoxon_signed_rank",
    "youden",
]
