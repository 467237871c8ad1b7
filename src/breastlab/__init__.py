"""breastlab: breast-imaging AI research toolkit.

One base and four studies on it (docs/architecture.md draws the layers):

- ``data``: readers of Duke-Breast-Cancer-MRI, CBIS-DDSM, VinDr-Mammo and mini-MIAS, the MRI and
  mammography phantoms, and the manifest + array store every later step reads;
- ``curate``: cohorts and patient-level splits, SpurBreast's spurious-correlation splits among them;
- ``models``: the model registry (ResNet, ViT, AlexNet, a small CNN) and Grad-CAM;
- ``evaluate``: ROC statistics exact against R's pROC, bootstrap, agreement, reader studies,
  Obuchowski-Rockette / Hillis MRMC, and the run metrics of SpurBreast's Table 2;
- ``train``: the SpurBreast trainer and sweeps, and the runtime the other trainers share;
- the studies: ``train`` with ``curate`` (SpurBreast's shortcut finding), ``anomaly`` (FCDD on
  breast MRI MIPs), ``mammo`` (mammogram classification), ``detect`` (finding detection, FROC);
- ``report``: one self-contained HTML page of the studies' sections;
- ``schemas``: the layout of every folder the steps pass on; ``errors``: the exceptions and warnings;
- ``cli``: the ``breastlab`` command; ``demo``: the main job on the phantom cohort.
"""

__version__ = "0.1.0"
