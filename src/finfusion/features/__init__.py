"""finfusion.features"""
