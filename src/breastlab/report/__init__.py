"""breastlab.report: the self-contained HTML shortcut report and Grad-CAM."""

from breastlab.report.gradcam import grad_cam, last_conv_layer
from breastlab.report.html import find_runs, write_report

__all__ = ["find_runs", "grad_cam", "last_conv_layer", "write_report"]
