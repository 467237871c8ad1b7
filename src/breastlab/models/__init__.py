"""breastlab.models"""
