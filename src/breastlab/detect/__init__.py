"""breastlab.detect: mammography finding detection (Faster R-CNN), FROC evaluation, localisation, AI marks.

``model``: detector config/presets, training (resumable), prediction with test-time flips;
``presets``: a preset's config with the options a user changed, finding-class lists;
``froc``: matching, per-class FROC, AP@0.5, image/breast Table 1; ``localise``: landmarks,
quadrants, nipple distance, CC-MLO matching; ``marks``: per-image marks and reader-study rows;
``report``: the detection report section.
"""
