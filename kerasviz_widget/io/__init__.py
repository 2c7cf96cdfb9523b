"""Formats on disk and on the wire: the `.npz` history, the run folder, the standalone HTML page and
the front-end protocol.

Imports the core only; never a Jupyter package and never `kerasviz_widget.widget`.
"""
