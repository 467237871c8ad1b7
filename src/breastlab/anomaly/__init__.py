"""breastlab.anomaly"""
