"""finfusion.text"""
