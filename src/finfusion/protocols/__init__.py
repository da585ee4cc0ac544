"""finfusion.protocols"""
