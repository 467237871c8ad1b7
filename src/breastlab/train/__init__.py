"""breastlab.train"""
