"""The Jupyter widget: the only layer that imports ipywidgets, anywidget or IPython."""
