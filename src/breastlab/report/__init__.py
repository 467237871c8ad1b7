"""breastlab.report"""
