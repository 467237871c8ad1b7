"""breastlab.curate"""
