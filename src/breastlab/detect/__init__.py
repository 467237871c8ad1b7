"""breastlab.detect"""
