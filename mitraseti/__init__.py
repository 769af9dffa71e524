"""MitraSETI: open, self-hostable SETI signal analysis.

Search filterbank observations (.fil SIGPROC, .h5 Breakthrough Listen) for narrowband
drifting signals, classify every signal into nine classes, flag interference, and export
catalogs and pictures.
"""
__version__ = "0.3.0"
