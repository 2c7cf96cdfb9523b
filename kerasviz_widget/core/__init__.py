"""The recording core: probe, extraction, reductions, history, the recording session and callback.

Imports NumPy and Keras only; never a Jupyter package (ipywidgets, anywidget, bqplot, IPython) and
never `kerasviz_widget.io` or `kerasviz_widget.widget`.
"""
