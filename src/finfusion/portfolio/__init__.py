"""finfusion.portfolio"""
