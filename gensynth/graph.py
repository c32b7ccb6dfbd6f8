"""Draw a network plan as an SVG in the style of the AttendNeXt figure: stages left to right,
parallel columns as parallel lanes, block kinds in distinct colours, repeats as "Nx".

The drawing walks the same plan that `build` runs and `cost` counts, so it shows the
layers in the order the network applies them."""

from __future__ import annotations

from html import escape

from gensynth.cost import cost
from gensynth.plan import (
    BlockPlan,
    Blur,
    Conv,
    GlobalPool,
    HalfMaxPool,
    Layer,
    Linear,
    MaxShift,
    NetPlan,
    block_layers,
    is_anti_aliased,
    network_plan,
)
from gensynth.spec import ArchSpec

COLORS = {
    "DC-AC": "#7b4fd6",
    "AC (original)": "#c8559f",
    "conv entry": "#4f7bd6",
    "AADS (BlurPool)": "#2e9e5b",
    "aliased downsample": "#d64f4f",
    "3x3 column conv": "#f0a830",
    "1x1 conv": "#58b4d1",
    "pooling": "#9e9e9e",
    "FC": "#3a3a3a",
    "SE": "#8bc34a",
}
BLOCK_COLOR = {"dcac": "DC-AC", "ac": "AC (original)", "sum": "conv entry"}
BLOCK_TEXT = {"dcac": "DC-AC", "ac": "AC", "sum": "conv"}
LANE_H, LANE_GAP, MAX_LANES = 20, 6, 8
FULL_W, LANE_W, GAP = 56, 32, 10


class _Canvas:
    def __init__(self, lanes: int) -> None:
        self.items: list[str] = []
        self.used: set[str] = set()  # colours drawn, for the legend
        self.x, self.top = 16, 58
        self.lanes = lanes
        self.height = lanes * LANE_H + (lanes - 1) * LANE_GAP

    @property
    def mid(self) -> float:
        return self.top + self.height / 2

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        kind: str,
        text: str,
        sub: str = "",
        title: str = "",
    ) -> None:
        fill = COLORS.get(kind, "#ffffff")
        if kind in COLORS:
            self.used.add(kind)
        ink = "#222" if kind in ("3x3 column conv", "1x1 conv", "pooling", "") else "#fff"
        tip = f"<title>{escape(title or (text + ' ' + sub).strip())}</title>"
        self.items.append(
            f'<g class="blk">{tip}<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'rx="4" fill="{fill}" stroke="#555" stroke-width="0.6"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + (0 if sub else 3.5):.1f}" fill="{ink}" '
            f'font-size="10" text-anchor="middle">{escape(text)}</text>'
            + (
                f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 12:.1f}" fill="{ink}" font-size="9" '
                f'text-anchor="middle">{escape(sub)}</text>'
                if sub
                else ""
            )
            + "</g>"
        )

    def full(self, kind: str, text: str, sub: str = "", w: float = FULL_W, title: str = "") -> None:
        self.box(self.x, self.top, w, self.height, kind, text, sub, title)
        self.x += w + GAP

    def lanes_of(
        self, n: int, column: list[tuple[str, str]], dense: set[int] = frozenset()
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

    def label(
        self,
        x: float,
        y: float,
        text: str,
        size: int = 10,
        weight: str = "normal",
        anchor: str = "start",
    ) -> None:
        self.items.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
            f'font-weight="{weight}" text-anchor="{anchor}" fill="#222">'
            f"{escape(text)}</text>"
        )

    def frame(self, x0: float, text: str, *subs: str) -> None:
        """A dashed frame around what was drawn since x0, wide enough for its labels."""
        self.x = max(self.x, x0 + 5.2 * max(map(len, subs)) + GAP)
        w = self.x - x0 - GAP + 8
        self.items.insert(
            0,
            f'<rect x="{x0 - 4:.1f}" y="{self.top - 42:.1f}" width="{w:.1f}" '
            f'height="{self.height + 62:.1f}" rx="6" fill="#f6f4fb" '
            f'stroke="#b9b0d6" stroke-dasharray="4 3"/>',
        )
        self.label(x0, self.top - 30, text, 11, "bold")
        for i, sub in enumerate(subs):
            self.label(x0, self.top - 19 + 10 * i, sub, 9)


def draw(spec: ArchSpec | NetPlan, resolution: int = 224) -> str:
    """The SVG (a string) of a spec or plan; block widths and resolutions at ``resolution``."""
    plan = spec if isinstance(spec, NetPlan) else network_plan(spec)
    groups = [x.groups for x in _all_layers(plan) if isinstance(x, Conv) and x.k == 3]
    c = _Canvas(max(2, min(MAX_LANES, max(groups, default=1))))
    sections = cost(plan, resolution).sections
    c.full("", "input", f"{plan.in_channels}x{resolution}x{resolution}")
    for section, sec in zip(plan.sections, sections, strict=True):
        x0 = c.x
        for block, repeats in _runs(section.blocks):
            _block(c, block, repeats)
        if section.name != "head":
            c.frame(
                x0,
                section.name.replace("stage", "stage "),
                f"{sec.shape_out.h}x{sec.shape_out.w}, {sec.shape_out.c} ch",
                f"{section.columns} col",
            )
    legend_y = c.top + c.height + 42
    x = 16
    for name, color in COLORS.items():
        if name not in c.used:
            continue
        c.items.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="12" height="12" rx="2" fill="{color}"/>'
        )
        c.label(x + 16, legend_y + 1, name, 10)
        x += 30 + 6.2 * len(name)
    width = max(c.x + 8, x)
    line = (
        f'<line x1="16" y1="{c.mid:.1f}" x2="{c.x - GAP:.1f}" y2="{c.mid:.1f}" '
        f'stroke="#888" stroke-width="1.5"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="archgraph" viewBox="0 0 {width:.0f} '
        f'{legend_y + 14:.0f}" width="{width:.0f}" height="{legend_y + 14:.0f}" '
        f'font-family="Helvetica, Arial, sans-serif" role="img" '
        f'aria-label="{escape(plan.name)} architecture">{line}{"".join(c.items)}</svg>'
    )


def _all_layers(plan: NetPlan) -> list[Layer]:
    return [x for s in plan.sections for b in s.blocks for x in block_layers(b)]


def _runs(blocks: tuple[BlockPlan, ...]) -> list[tuple[BlockPlan, int]]:
    """Consecutive identical blocks as (block, repeats)."""
    runs: list[tuple[BlockPlan, int]] = []
    for b in blocks:
        if runs and runs[-1][0] == b:
            runs[-1] = (b, runs[-1][1] + 1)
        else:
            runs.append((b, 1))
    return runs


def _block(c: _Canvas, block: BlockPlan, repeats: int) -> None:
    if block.kind in BLOCK_COLOR:
        strided = [x for x in block_layers(block) if isinstance(x, (Conv, Blur)) and x.stride > 1]
        if strided:
            _down(c, strided[0], all(map(is_anti_aliased, strided)))
        out = _out_channels(block)
        c.full(
            BLOCK_COLOR[block.kind],
            BLOCK_TEXT[block.kind],
            f"-> {out}",
            title=f"{block.label}: {BLOCK_COLOR[block.kind]} -> {out} channels"
            + (f", {block.gate} gate" if block.kind == "dcac" else ""),
        )
        return
    if block.kind == "seq":
        for layer in block.branches[0]:
            _layer(c, layer)
        return
    rx = c.x  # residual / add / se bodies: their layers as lanes, repeats as "Nx"
    lanes = max([x.groups for x in block_layers(block) if isinstance(x, Conv)], default=1)
    column, dense = [], set()
    for layer in block_layers(block):
        item = _lane_item(layer)
        if item:
            if isinstance(layer, Conv) and layer.groups == 1:
                dense.add(len(column))
            column.append(item)
    c.lanes_of(lanes, column, dense)
    if repeats > 1:
        c.label((rx + c.x - GAP) / 2, c.top + c.height + 14, f"{repeats}x", 10, "bold", "middle")


def _out_channels(block: BlockPlan) -> int:
    convs = [x for x in block.branches[-1] if isinstance(x, Conv)]
    return convs[-1].c_out if convs else 0


def _lane_item(layer: Layer) -> tuple[str, str] | None:
    if isinstance(layer, Conv):
        kind = "3x3 column conv" if layer.k >= 3 else "1x1 conv"
        return kind, f"{layer.k}x{layer.k}" if layer.groups == 1 else str(
            layer.c_out // layer.groups
        )
    if isinstance(layer, Blur):
        return ("AADS (BlurPool)" if is_anti_aliased(layer) else "aliased downsample"), "/2"
    return None


def _down(c: _Canvas, layer: Layer, anti_aliased: bool) -> None:
    if isinstance(layer, Blur):
        name = "avg" if layer.k == 2 else f"blur{layer.k}"
    else:
        name = f"{layer.k}x{layer.k} s{layer.stride}"
    c.full(
        "AADS (BlurPool)" if anti_aliased else "aliased downsample",
        name,
        "/2",
        w=LANE_W + 12,
        title=f"{name} downsampling ({'anti-aliased' if anti_aliased else 'aliased'})",
    )


def _layer(c: _Canvas, layer: Layer) -> None:
    """One layer of a sequential block, in the order the network runs it."""
    if isinstance(layer, Conv) and layer.stride > 1:
        _down(c, layer, False)
    elif isinstance(layer, Conv) and layer.groups > 1:
        kind = "3x3 column conv" if layer.k >= 3 else "1x1 conv"
        c.lanes_of(layer.groups, [(kind, str(layer.c_out // layer.groups))])
    elif isinstance(layer, Conv):
        kind = "3x3 column conv" if layer.k >= 3 else "1x1 conv"
        c.full(kind, f"{layer.k}x{layer.k}", str(layer.c_out), w=LANE_W + 8)
    elif isinstance(layer, Blur):
        _down(c, layer, is_anti_aliased(layer))
    elif isinstance(layer, (MaxShift, HalfMaxPool)):
        c.full("pooling", "max", "2x2", w=LANE_W)
    elif isinstance(layer, GlobalPool):
        c.full("pooling", "GAP", "", w=LANE_W + 8)
    elif isinstance(layer, Linear):
        c.full("FC", "FC", str(layer.c_out), w=LANE_W + 8)
    elif isinstance(layer, BlockPlan):
        _block(c, layer, 1)
