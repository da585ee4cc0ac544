"""finfusion.evaluate"""
