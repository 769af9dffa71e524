"""Notebook widgets: the interactive waterfall explorer and its server-side decimation."""
from mitraseti.widgets.decimate import decimate, decimated_shape, scale_image
from mitraseti.widgets.hits import CLASS_COLOURS, load_hits
from mitraseti.widgets.source import ArrayObservation, DisplayView
from mitraseti.widgets.stamps import Stamp, dedrifted_window, hit_stamp

__all__ = ["WaterfallExplorer", "load_bokehjs", "decimate", "decimated_shape", "scale_image", "CLASS_COLOURS",
           "load_hits", "ArrayObservation", "DisplayView", "Stamp", "dedrifted_window",
           "hit_stamp"]


def __getattr__(name):  # import the ipywidgets/bokeh side lazily
    if name in ("WaterfallExplorer", "load_bokehjs"):
        from mitraseti.widgets import explorer
        return getattr(explorer, name)
    raise AttributeError(name)
