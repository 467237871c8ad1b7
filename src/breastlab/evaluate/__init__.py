"""breastlab.evaluate: the statistics a radiology journal asks for, on arrays and tables.

``stats``: ROC, DeLong, bootstrap, agreement and reader-study tables, exact against R's pROC;
``mrmc``: Obuchowski-Rockette / Hillis MRMC analysis and power; ``froc``: FROC figures of merit
as RJafroc gives them; ``metrics``: SpurBreast's Table 2 and shortcut figures of a training run;
``consistency``: can one confusion matrix give published figures? ``_delong``: DeLong's structural
components, shared by ``stats`` and ``mrmc``.
"""
