"""The bokeh figures of the waterfall explorer (no data logic here, only layout and glyphs).

Axes: x is frequency in MHz (rising to the right), y is time in s since the first spectrum.
"""
from __future__ import annotations

from bokeh.layouts import column, row
from bokeh.models import (ColorBar, ColumnDataSource, FactorRange, HoverTool,
                          LinearColorMapper, Range1d, TapTool)
from bokeh.plotting import figure

from mitraseti.taxonomy import LABELS

PALETTE = "Viridis256"
HIT_TOOLTIPS = [
    ("frequency", "@frequency_mhz{0.000000} MHz"),
    ("drift", "@drift_rate{0.0000} Hz/s"),
    ("S/N", "@snr{0.0}"),
    ("label", "@classification"),
    ("confidence", "@confidence{0.00}"),
]
HIT_COLUMNS = ["index", "frequency_mhz", "drift_rate", "snr", "classification",
               "confidence", "colour", "x0", "y0", "x1", "y1", "xm", "ym"]


def empty_image_data() -> dict:
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


class ExplorerPlots:
    """Main waterfall with hit overlay, plus raw / de-drifted stamp and class probabilities."""

    def __init__(self, width: int = 900, height: int = 360, stamp_width: int = 300):
        self.image_source = ColumnDataSource(empty_image_data())
        self.hits_source = ColumnDataSource({k: [] for k in HIT_COLUMNS})
        self.mapper = LinearColorMapper(palette=PALETTE, low=0.0, high=1.0,
                                        nan_color="rgba(0,0,0,0)")
        self.x_range = Range1d(0.0, 1.0)
        self.y_range = Range1d(0.0, 1.0)
        fig = figure(width=width, height=height, x_range=self.x_range, y_range=self.y_range,
                     tools="xpan,xwheel_zoom,box_zoom,wheel_zoom,pan,reset,save",
                     active_scroll="xwheel_zoom", x_axis_label="frequency (MHz)",
                     y_axis_label="time (s)", title="waterfall", name="waterfall")
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image_source,
                  color_mapper=self.mapper)
        fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.hits_source,
                    line_color="colour", line_width=2, line_alpha=0.8,
                    nonselection_line_alpha=0.4, selection_line_width=4)
        marks = fig.scatter(x="xm", y="ym", source=self.hits_source, size=11,
                            fill_color="colour", line_color="white", fill_alpha=0.9,
                            nonselection_fill_alpha=0.4, selection_line_color="red",
                            selection_line_width=3)
        fig.add_tools(HoverTool(renderers=[marks], tooltips=HIT_TOOLTIPS),
                      TapTool(renderers=[marks]))
        fig.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        fig.xaxis.major_label_orientation = 0.3
        self.figure = fig
        self.hit_marks = marks

        self.raw_source = ColumnDataSource(empty_image_data())
        self.ded_source = ColumnDataSource(empty_image_data())
        self.drift_line = ColumnDataSource({"x": [], "y": []})
        self.stamp_mapper = LinearColorMapper(palette=PALETTE, low=0.0, high=1.0,
                                              nan_color="rgba(0,0,0,0)")
        self.raw_fig = self._stamp_figure("raw stamp", stamp_width, height, self.raw_source)
        self.raw_fig.line(x="x", y="y", source=self.drift_line, line_color="red",
                          line_dash="dashed", line_width=2)
        self.ded_fig = self._stamp_figure("de-drifted stamp", stamp_width, height,
                                          self.ded_source)
        self.prob_source = ColumnDataSource({"label": list(LABELS), "p": [0.0] * len(LABELS),
                                             "colour": ["#888888"] * len(LABELS)})
        prob = figure(width=stamp_width, height=height, y_range=FactorRange(*LABELS),
                      x_range=Range1d(0.0, 1.0), title="class probabilities", tools="",
                      toolbar_location=None, name="probabilities")
        prob.hbar(y="label", right="p", height=0.7, source=self.prob_source,
                  fill_color="colour", line_color=None)
        self.prob_fig = prob
        self.layout = column(fig, row(self.raw_fig, self.ded_fig, prob))

    def _stamp_figure(self, title: str, width: int, height: int, source) -> figure:
        f = figure(width=width, height=height, title=title, tools="pan,wheel_zoom,reset",
                   x_axis_label="frequency (MHz)", y_axis_label="time (s)", name=title)
        f.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source,
                color_mapper=self.stamp_mapper)
        f.xaxis.major_label_orientation = 0.5
        return f
