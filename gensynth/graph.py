"""Draw an ArchSpec as an SVG in the style of the AttendNeXt figure: stages left to right,
parallel columns as parallel lanes, block kinds in distinct colours, repeats as "Nx"."""

from __future__ import annotations

from html import escape

from gensynth.cost import cost
from gensynth.spec import AADS_KINDS, ArchSpec, Stage

COLORS = {
    "DC-AC": "#7b4fd6", "AC (original)": "#c8559f", "conv entry": "#4f7bd6",
    "AADS (BlurPool)": "#2e9e5b", "aliased downsample": "#d64f4f", "3x3 column conv": "#f0a830",
    "1x1 conv": "#58b4d1", "pooling": "#9e9e9e", "FC": "#3a3a3a",
}
ENTRY_COLOR = {"dcac": "DC-AC", "ac": "AC (original)", "conv": "conv entry"}
LANE_H, LANE_GAP, MAX_LANES = 20, 6, 8
FULL_W, LANE_W, GAP = 56, 32, 10


class _Canvas:
    def __init__(self, lanes: int) -> None:
        self.items: list[str] = []
        self.x, self.top = 16, 58
        self.lanes = lanes
        self.height = lanes * LANE_H + (lanes - 1) * LANE_GAP

    @property
    def mid(self) -> float:
        return self.top + self.height / 2

    def box(self, x: float, y: float, w: float, h: float, kind: str, text: str,
            sub: str = "", title: str = "") -> None:
        fill = COLORS.get(kind, "#ffffff")
        ink = "#222" if kind in ("3x3 column conv", "1x1 conv", "pooling", "") else "#fff"
        tip = f"<title>{escape(title or (text + ' ' + sub).strip())}</title>"
        self.items.append(
            f'<g class="blk">{tip}<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'rx="4" fill="{fill}" stroke="#555" stroke-width="0.6"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + (0 if sub else 3.5):.1f}" fill="{ink}" '
            f'font-size="10" text-anchor="middle">{escape(text)}</text>'
            + (f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 12:.1f}" fill="{ink}" font-size="9" '
               f'text-anchor="middle">{escape(sub)}</text>' if sub else "") + "</g>")

    def full(self, kind: str, text: str, sub: str = "", w: float = FULL_W,
             title: str = "") -> None:
        self.box(self.x, self.top, w, self.height, kind, text, sub, title)
        self.x += w + GAP

    def lanes_of(self, n: int, column: list[tuple[str, str]], dense: set[int] = frozenset()
                 ) -> None:
        """`n` parallel lanes, each the sequence `column`; positions in `dense` span all."""
        shown = min(n, MAX_LANES)
        offset = (self.lanes - shown) * (LANE_H + LANE_GAP) / 2
        for i, (kind, text) in enumerate(column):
            if i in dense:
                self.box(self.x, self.top, LANE_W, self.height, kind, text, "dense")
            else:
                for lane in range(shown):
                    y = self.top + offset + lane * (LANE_H + LANE_GAP)
                    label = "..." if lane == MAX_LANES - 1 and n > MAX_LANES else text
                    self.box(self.x, y, LANE_W, LANE_H, kind, label, title=f"column {lane + 1}")
            self.x += LANE_W + 4
        self.x += GAP - 4

    def label(self, x: float, y: float, text: str, size: int = 10, weight: str = "normal",
              anchor: str = "start") -> None:
        self.items.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                          f'font-weight="{weight}" text-anchor="{anchor}" fill="#222">'
                          f'{escape(text)}</text>')

    def frame(self, x0: float, text: str, *subs: str) -> None:
        """A dashed frame around what was drawn since x0, wide enough for its labels."""
        self.x = max(self.x, x0 + 5.2 * max(map(len, subs)) + GAP)
        w = self.x - x0 - GAP + 8
        self.items.insert(0, f'<rect x="{x0 - 4:.1f}" y="{self.top - 42:.1f}" width="{w:.1f}" '
                             f'height="{self.height + 62:.1f}" rx="6" fill="#f6f4fb" '
                             f'stroke="#b9b0d6" stroke-dasharray="4 3"/>')
        self.label(x0, self.top - 30, text, 11, "bold")
        for i, sub in enumerate(subs):
            self.label(x0, self.top - 19 + 10 * i, sub, 9)


def draw(spec: ArchSpec, resolution: int = 224) -> str:
    """The SVG (a string) of a spec; block widths and resolutions at ``resolution``."""
    lanes = min(MAX_LANES, max([spec.stem.columns, *(s.columns for s in spec.stages)]))
    c = _Canvas(max(lanes, 2))
    sections = cost(spec, resolution).sections
    c.full("", "input", f"{spec.in_channels}x{resolution}x{resolution}")
    _stem(c, spec, sections[0])
    for i, (stage, sec) in enumerate(zip(spec.stages, sections[1:-1], strict=True), start=1):
        _stage(c, i, stage, sec)
    if spec.head.width:
        c.full("1x1 conv", "1x1", str(spec.head.width), w=LANE_W + 8)
    c.full("pooling", "GAP", str(spec.out_channels), w=LANE_W + 8)
    c.full("FC", "FC", str(spec.num_classes), w=LANE_W + 8)
    width = c.x + 8
    legend_y = c.top + c.height + 42
    x = 16
    for name, color in COLORS.items():
        c.items.append(f'<rect x="{x}" y="{legend_y - 9}" width="12" height="12" rx="2" '
                       f'fill="{color}"/>')
        c.label(x + 16, legend_y + 1, name, 10)
        x += 30 + 6.2 * len(name)
    width = max(width, x)
    line = (f'<line x1="16" y1="{c.mid:.1f}" x2="{c.x - GAP:.1f}" y2="{c.mid:.1f}" '
            f'stroke="#888" stroke-width="1.5"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="archgraph" viewBox="0 0 {width:.0f} '
            f'{legend_y + 14:.0f}" width="{width:.0f}" height="{legend_y + 14:.0f}" '
            f'font-family="Helvetica, Arial, sans-serif" role="img" '
            f'aria-label="{escape(spec.name)} architecture">{line}{"".join(c.items)}</svg>')


def _down(c: _Canvas, kind: str, blur: int) -> None:
    aads = kind in AADS_KINDS
    name = {"blur": f"blur{blur}", "avg": "avg", "maxblur": f"maxblur{blur}",
            "strided_conv": "3x3 s2", "strided_pointwise": "1x1 s2"}[kind]
    c.full("AADS (BlurPool)" if aads else "aliased downsample", name, "/2", w=LANE_W + 12,
           title=f"{kind} downsampling ({'anti-aliased' if aads else 'aliased'})")


def _stem(c: _Canvas, spec: ArchSpec, sec) -> None:
    x0, stem = c.x, spec.stem
    strided = stem.conv_downsample == "strided_conv"
    c.full("3x3 column conv", "3x3 conv", f"s2, {stem.width}" if strided else str(stem.width),
           w=FULL_W, title="stem convolution")
    if not strided:
        _down(c, stem.conv_downsample, stem.blur_size)
    c.lanes_of(stem.columns, [("3x3 column conv", f"{stem.width // stem.columns}")])
    if stem.downsample != "none":
        _down(c, stem.downsample, stem.blur_size)
    c.frame(x0, "stem", f"{sec.shape_out.h}x{sec.shape_out.w}, {stem.columns} col", "")


def _stage(c: _Canvas, i: int, s: Stage, sec) -> None:
    x0 = c.x
    if s.stride == 2:
        _down(c, s.downsample, s.blur_size)
    entry = ENTRY_COLOR[s.entry]
    c.full(entry, {"dcac": "DC-AC", "ac": "AC", "conv": "conv"}[s.entry],
           f"-> {s.out_channels}", title=f"entry: {entry}, {sec.shape_in.c} -> "
                                         f"{s.out_channels} channels"
           + (f", {s.gate} gate" if s.entry == "dcac" else ""))
    if s.depth > 1:
        per = s.width // s.columns
        mixed = s.interaction == "mixed"
        if s.block == "basic":
            column = [("3x3 column conv", str(per)), ("3x3 column conv", str(per))]
            dense = {2} if mixed else set()
            if mixed:
                column.append(("1x1 conv", "1x1"))
        else:
            column = [("1x1 conv", "1x1"), ("3x3 column conv", str(per)), ("1x1 conv", "1x1")]
            dense = {0, 2} if mixed else set()
        rx = c.x
        c.lanes_of(s.columns, column, dense)
        c.label((rx + c.x - GAP) / 2, c.top + c.height + 14, f"{s.depth - 1}x", 10, "bold",
                "middle")
    c.frame(x0, f"stage {i}", f"{sec.shape_out.h}x{sec.shape_out.w}, {s.columns} col",
            f"{s.block}, {s.interaction}")
