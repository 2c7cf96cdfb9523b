"""The Jupyter widget: the only layer that imports ipywidgets, anywidget, bqplot or IPython."""
