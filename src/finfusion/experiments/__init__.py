"""finfusion.experiments"""
