"""yolo_ext.viz: hand-computed assignment cells, flags against a slow reference, label I/O, letterbox, CLI figures."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import yolo_ext  # noqa: F401  (patches, offline)
from yolo_ext.assign import ASSIGNERS
from yolo_ext.nn.head import AnchorDetect
from yolo_ext.config.paths import ROOT
from yolo_ext.viz import assign as va
from yolo_ext.viz import heatmap as vh
from yolo_ext.cli.viz import main
from yolo_ext.viz.common import letterbox, letterbox_labels, read_labels


def make_head(anchors=((16, 30), (62, 45), (156, 198)), strides=(8, 16, 32)) -> AnchorDetect:
    """A bare AnchorDetect with given anchors (one list of w,h pairs per level) and strides; no model needed."""
    anchors = [list(np.ravel(a)) if np.ndim(a[0]) else list(a) for a in anchors]
    head = AnchorDetect(nc=1, anchors=anchors, ch=(4,) * len(anchors))
    head.stride = torch.tensor(strides, dtype=torch.float32)
    return head


def target(gx, gy, w_px, h_px, imgsz=64, stride=8):
    """[class, cx, cy, w, h] normalised, from a centre in P3 grid units and a size in pixels."""
    return [0, gx * stride / imgsz, gy * stride / imgsz, w_px / imgsz, h_px / imgsz]


def cells(level):
    return sorted(zip(level.gj.tolist(), level.gi.tolist(), level.is_centre.tolist(), level.is_duplicate.tolist()))


# ------------------------------------------------------------------------------------------------ hand cases
def test_yolov5_centre_and_two_expected_neighbours():
    # 10x14 px target at grid (3.3, 4.7) on P3 (8x8 grid at imgsz 64): only the P3 anchor 16x30 passes the ratio test;
    # x frac 0.3 < 0.5 -> left neighbour (col 2); (8 - 4.7) % 1 = 0.3 < 0.5 -> lower neighbour (row 5).
    r = va.assignment_cells(make_head(), "yolov5", [target(3.3, 4.7, 10, 14)], 64)
    p3, p4, p5 = r.levels
    assert cells(p3) == [(4, 2, False, False), (4, 3, True, False), (5, 3, False, False)]
    assert p4.num == p5.num == 0 and r.spec == "yolov5"
    assert p3.shape == (8, 8) and p3.stride == 8 and (p3.weight == 1).all()


def test_centre_on_upper_left_side_picks_left_and_up():
    r = va.assignment_cells(make_head(), "yolov5", [target(5.2, 2.1, 10, 14)], 64)
    assert cells(r.levels[0]) == [(1, 5, False, False), (2, 4, False, False), (2, 5, True, False)]


def test_two_targets_sharing_cells_are_flagged_duplicates():
    # A at (3.3, 4.7): cells (4,3) centre, (4,2), (5,3). B at (3.7, 4.7): (4,3) centre, (4,4), (5,3).
    r = va.assignment_cells(make_head(), "yolov5", [target(3.3, 4.7, 10, 14), target(3.7, 4.7, 10, 14)], 64)
    lv = r.levels[0]
    got = sorted(zip(lv.target.tolist(), lv.gj.tolist(), lv.gi.tolist(), lv.is_centre.tolist(), lv.is_duplicate.tolist()))
    assert got == [(0, 4, 2, False, False), (0, 4, 3, True, True), (0, 5, 3, False, True),
                   (1, 4, 3, True, True), (1, 4, 4, False, False), (1, 5, 3, False, True)]
    u = va.unique_cells(lv)
    assert sorted(zip(u["gj"].tolist(), u["gi"].tolist(), u["claims"].tolist())) == [(4, 2, 1), (4, 3, 2), (4, 4, 1), (5, 3, 2)]
    # dedup keeps one claim per cell: no duplicates left
    d = va.assignment_cells(make_head(), "yolov5+dedup", [target(3.3, 4.7, 10, 14), target(3.7, 4.7, 10, 14)], 64)
    assert d.levels[0].num == 4 and not d.levels[0].is_duplicate.any() and d.stats["dedup_removed"] == 2


def test_same_cell_other_anchor_is_not_a_duplicate():
    head = make_head(anchors=((12, 16, 10, 14), (62, 45, 60, 40), (156, 198, 150, 190)))
    lv = va.assignment_cells(head, "yolov5", [target(3.3, 4.7, 10, 14)], 64).levels[0]
    assert lv.num == 6 and sorted(Counter(lv.anchor.tolist()).values()) == [3, 3]
    assert not lv.is_duplicate.any() and lv.is_centre.sum() == 2
    u = va.unique_cells(lv)
    assert len(u["anchor"]) == 6 and (u["claims"] == 1).all()


def test_distance_weights_reach_the_figure_arrays():
    lv = va.assignment_cells(make_head(), "distance", [target(3.3, 4.7, 10, 14)], 64).levels[0]
    w = {(j, i): round(float(x), 4) for j, i, x in zip(lv.gj.tolist(), lv.gi.tolist(), lv.weight.tolist())}
    assert w == {(4, 3): 1.0, (4, 2): 0.7, (5, 3): 0.7}


def test_ignored_cells_are_exactly_the_overlapping_negatives():
    head = make_head()
    t = target(3.3, 4.7, 10, 14)
    preds = [torch.zeros(1, 1, 64 // s, 64 // s, 4) for s in (8, 16, 32)]
    for p, s in zip(preds, (8, 16, 32)):  # 1x1 px boxes at each cell centre: overlap nothing
        n = p.shape[2]
        yv, xv = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        p[0, 0, ..., 0], p[0, 0, ..., 1], p[0, 0, ..., 2:] = (xv + 0.5) * s, (yv + 0.5) * s, 1.0
    box = torch.tensor([3.3 * 8, 4.7 * 8, 10, 14])
    preds[0][0, 0, 0, 7] = box  # a far cell predicting the target box exactly: ignored
    preds[0][0, 0, 4, 3] = box  # a positive cell predicting it too: never ignored
    r = va.assignment_cells(head, "yolov5+ignore", [t], 64, preds=preds)
    a, gj, gi = va.ignored_cells(r.levels[0])
    assert list(zip(a.tolist(), gj.tolist(), gi.tolist())) == [(0, 0, 7)]
    assert all(va.ignored_cells(lv)[0].size == 0 for lv in r.levels[1:])
    assert va.ignored_cells(va.assignment_cells(head, "yolov5", [t], 64).levels[0])[0].size == 0
    with pytest.raises(ValueError, match="needs preds"):
        va.assignment_cells(head, "yolov5+ignore", [t], 64)


@pytest.mark.parametrize("spec", [n for n, c in ASSIGNERS.items() if c.KIND == "base"])
def test_flags_match_a_slow_reference_for_every_base(spec):
    rng = np.random.default_rng(1)
    n, imgsz = 40, 128
    wh = rng.uniform(0.03, 0.5, (n, 2))
    xy = rng.uniform(0, 1, (n, 2))
    xy[:4] = [[0.0, 0.5], [1.0, 1.0], [0.5, 0.0], [0.9999, 0.25]]  # borders: clamped centres
    t = np.concatenate((np.zeros((n, 1)), xy, wh), 1).astype(np.float32)
    head, kw = make_head(), {}
    if ASSIGNERS[spec].needs_preds:  # simota, tal: the head's decode of random maps, and their scores
        g = torch.Generator().manual_seed(0)
        maps = [torch.randn(1, head.na, imgsz // int(s), imgsz // int(s), 5 + head.nc, generator=g) for s in head.stride]
        kw = {"preds": head.decode_boxes(maps), "scores": [m[..., 4:5].sigmoid() * m[..., 5:].sigmoid() for m in maps]}
    r = va.assignment_cells(head, spec, t, imgsz, **kw)
    assert sum(lv.num for lv in r.levels) > (n // 2 if kw else n)
    for lv in r.levels:
        ny, nx = lv.shape
        keys = list(zip(lv.anchor.tolist(), lv.gj.tolist(), lv.gi.tolist()))
        count = Counter(keys)
        for k in range(lv.num):
            cx, cy = np.float32(t[lv.target[k], 1]) * np.float32(nx), np.float32(t[lv.target[k], 2]) * np.float32(ny)
            centre = (min(int(cy), ny - 1), min(int(cx), nx - 1))
            assert bool(lv.is_centre[k]) == ((lv.gj[k], lv.gi[k]) == centre)
            assert bool(lv.is_duplicate[k]) == (count[keys[k]] > 1)


def test_auto_view_zooms_on_few_targets_only():
    one = np.array([[100.0, 60.0, 4.0, 6.0]])
    x0, y0, side = va.auto_view(one, 320, 320, 32)
    assert x0 % 32 == 0 and y0 % 32 == 0 and x0 <= 98 and y0 <= 57 and x0 + side >= 102 and y0 + side >= 63
    assert side <= 160
    spread = np.array([[10.0, 10.0, 4.0, 4.0], [300.0, 300.0, 8.0, 8.0]])
    assert va.auto_view(spread, 320, 320, 32) is None and va.auto_view(np.zeros((0, 4)), 320, 320, 32) is None


# ------------------------------------------------------------------------------------------------ label I/O
def test_letterbox_maps_labels_and_pads():
    img = np.full((100, 200, 3), 7, np.uint8)
    out, lb = letterbox(img, 64)
    assert out.shape == (64, 64, 3) and lb["ratio"] == pytest.approx(0.32) and (lb["left"], lb["top"]) == (0, 16)
    assert (out[:16] == 114).all() and (out[48:] == 114).all() and (out[16:48] == 7).all()
    got = letterbox_labels(np.array([[2, 0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0.1, 0.1]], np.float32), lb, 64)
    np.testing.assert_allclose(got, [[2, 0.5, 0.5, 0.5, 0.25], [0, 0, 0.25, 0.1, 0.05]], atol=1e-6)


@pytest.mark.parametrize("row,match", [("0 0.5 0.5 0.1", "expected 5 fields"), ("0 a 0.5 0.1 0.1", "non-numeric"),
                                       ("0.5 0.5 0.5 0.1 0.1", "class"), ("0 0.5 1.5 0.1 0.1", r"\[0, 1\]")])
def test_bad_label_rows_name_file_and_line(tmp_path, row, match):
    f = tmp_path / "x.txt"
    f.write_text(f"0 0.5 0.5 0.2 0.2\n\n{row}\n")
    with pytest.raises(ValueError, match=match) as e:
        read_labels(f)
    assert f"{f}:3:" in str(e.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert read_labels(empty).shape == (0, 5)


# ------------------------------------------------------------------------------------------------ CLI
def make_faces(root: Path, n=100, size=(416, 416), seed=0, name="crowd") -> Path:
    """Crowd-like synthetic image: n skin-toned ellipse 'faces' with eyes, WIDER-like widths 6-60 px (log-uniform,
    h = 1.15-1.35 w, small at the top), on a smooth background; writes images/NAME.jpg and labels/NAME.txt."""
    rng = np.random.default_rng(seed)
    H, W = size
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    img = np.stack([90 + 40 * np.sin(xx / 37 + c) * np.cos(yy / 53 - c) for c in (0.0, 0.7, 1.4)], -1)
    img += rng.normal(0, 3, img.shape)
    v = rng.uniform(0, 1, n) ** 1.3
    fw = np.exp(np.log(6) + (np.log(60) - np.log(6)) * (v * 0.85 + 0.15 * rng.uniform(0, 1, n)))
    fh = fw * rng.uniform(1.15, 1.35, n)
    cx = rng.uniform(fw / 2, W - fw / 2)
    cy = np.clip(0.05 * H + v * 0.9 * H, fh / 2, H - fh / 2)
    skin = np.array([[224, 172, 140], [198, 134, 96], [141, 85, 56], [241, 194, 160]], np.float32)
    for k in np.argsort(fw):  # painting order only (small faces first)
        m = ((xx - cx[k]) / (fw[k] / 2)) ** 2 + ((yy - cy[k]) / (fh[k] / 2)) ** 2 <= 1
        img[m] = skin[rng.integers(0, 4)] + rng.normal(0, 6, 3)
        for ex in (-0.2, 0.2):
            e = ((xx - cx[k] - ex * fw[k]) / (fw[k] * 0.08 + 0.5)) ** 2 + ((yy - cy[k] + 0.12 * fh[k]) / (fh[k] * 0.06 + 0.5)) ** 2 <= 1
            img[e & m] = 40
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    p = root / "images" / f"{name}.jpg"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p, quality=92)
    rows = [f"0 {cx[k] / W:.6f} {cy[k] / H:.6f} {fw[k] / W:.6f} {fh[k] / H:.6f}" for k in range(n)]
    (root / "labels" / f"{name}.txt").write_text("\n".join(rows) + "\n")
    return p


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    return make_faces(tmp_path_factory.mktemp("crowd"), n=100, size=(240, 320))


@pytest.fixture(scope="module")
def fake_ckpt(tmp_path_factory):
    """A checkpoint-like dict {'model': AnchorDetectionModel} (random init, nc=1) that AnchorYOLO loads."""
    from yolo_ext.engine import AnchorDetectionModel
    from yolo_ext.config.paths import resolve_model_cfg

    torch.manual_seed(0)
    m = AnchorDetectionModel(str(resolve_model_cfg("yolov5n-1a.yaml")), nc=1, verbose=False)
    m.names = {0: "face"}
    f = tmp_path_factory.mktemp("ckpt") / "fake.pt"
    torch.save({"model": m.half()}, f)
    return f


def png_size(path: Path):
    with Image.open(path) as im:
        return im.format, im.size


def test_assign_cli_writes_png_of_expected_size(crowd, tmp_path):
    out = tmp_path / "sub" / "a.png"
    main(["assign", "--assigner", "radius+dedup", "--set", "radius_scale=0.7", "--image", str(crowd), "--cfg",
          "yolov5n-1a.yaml", "--imgsz", "160", "--panel-size", "3", "--dpi", "50", "--out", str(out)])
    fmt, (w, h) = png_size(out)
    assert fmt == "PNG" and out.stat().st_size > 10_000
    assert (w, h) == (round(3 * 3 * 50), round((3 + va.TOP_IN + va.BOTTOM_IN) * 50))
    assert not list(out.parent.glob(".*.tmp"))
    small = tmp_path / "p.png"
    main(["assign", "--image", str(crowd), "--cfg", "yolov5n-1a.yaml", "--imgsz", "160", "--panel-size", "3", "--dpi", "50",
          "--palette", "--out", str(small)])
    with Image.open(small) as im:
        assert im.mode == "P" and im.size == (w, h)


def test_assign_cli_needs_preds_runs_model(crowd, tmp_path, capsys):
    out = tmp_path / "i.png"
    main(["assign", "--assigner", "yolov5+ignore", "--set", "ignore_iou=0.1", "--image", str(crowd), "--imgsz", "128",
          "--dpi", "40", "--out", str(out)])
    assert png_size(out)[0] == "PNG" and "ignored" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["maxiou+ignore", "atss", "simota", "tal+dedup"])
def test_assign_cli_draws_the_new_families(spec, crowd, tmp_path, capsys):
    out = tmp_path / f"{spec}.png"
    main(["assign", "--assigner", spec, "--image", str(crowd), "--imgsz", "128", "--dpi", "40", "--out", str(out)])
    printed = capsys.readouterr().out
    assert png_size(out)[0] == "PNG" and spec.split("+")[0] in printed
    assert int(printed.split("'positives': ")[1].split("}")[0].split(",")[0]) > 0


def test_heatmap_cli_writes_png_of_expected_size(crowd, fake_ckpt, tmp_path):
    out = tmp_path / "h.png"
    main(["heatmap", "--weights", str(fake_ckpt), "--image", str(crowd), "--imgsz", "128", "--panel-size", "2.5",
          "--dpi", "60", "--conf", "0.001", "--labels", str(crowd.parent.parent / "labels" / "crowd.txt"), "--out", str(out)])
    fmt, (w, h) = png_size(out)
    assert fmt == "PNG" and out.stat().st_size > 5_000
    assert (w, h) == (round(4 * 2.5 * 60), round((2.5 + vh.TOP_IN + vh.BOTTOM_IN) * 60))


def test_score_maps_max_over_anchors():
    m = torch.full((1, 2, 3, 4, 7), -10.0)
    m[0, 1, 2, 3, 4] = 0.0  # obj 0.5 on anchor 1
    m[0, 0, 2, 3, 4] = -1.0
    m[0, 1, 2, 3, 5:] = torch.tensor([0.0, 10.0])  # cls: max sigmoid ~1
    obj = vh.score_maps([m], "obj")[0]
    assert obj.shape == (3, 4) and obj[2, 3] == pytest.approx(0.5) and obj[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(-10.0)).item())
    both = vh.score_maps([m], "obj*cls")[0]
    assert both[2, 3] == pytest.approx(0.5 * torch.sigmoid(torch.tensor(10.0)).item(), rel=1e-5)


@pytest.mark.parametrize("argv,needle", [
    (["assign", "--image", "{d}/missing.jpg"], "missing.jpg"),
    (["assign", "--image", "{img}", "--labels", "{d}/nolabels.txt"], "nolabels.txt"),
    (["assign", "--image", "{lonely}"], "lonely.txt"),
    (["assign", "--image", "{img}", "--labels", "{bad}"], "bad.txt:2:"),
    (["assign", "--image", "{img}", "--imgsz", "100"], "largest stride 32"),
    (["assign", "--image", "{img}", "--assigner", "nope"], "unknown assigner"),
    (["assign", "--image", "{img}", "--weights", "{d}/gone.pt"], "gone.pt"),
    (["heatmap", "--image", "{img}", "--weights", "{d}/gone.pt"], "gone.pt"),
    (["heatmap", "--image", "{img}", "--weights", "{bad}"], "bad.txt"),
    (["assign", "--image", "{corrupt}"], "corrupt.jpg cannot be decoded"),  # not pi-heif deep in ultralytics
])
def test_bad_inputs_name_the_file(crowd, tmp_path, argv, needle):
    bad = tmp_path / "bad.txt"
    bad.write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5\n")
    lonely = tmp_path / "lonely.png"
    Image.new("RGB", (40, 30)).save(lonely)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 truncated")
    fmt = dict(d=tmp_path, img=crowd, bad=bad, lonely=lonely, corrupt=corrupt)
    with pytest.raises(SystemExit) as e:
        main([a.format(**fmt) for a in argv] + ["--out", str(tmp_path / "o.png")])
    assert needle in str(e.value) and str(e.value).startswith("error:")
    assert not (tmp_path / "o.png").exists()


# ------------------------------------------------------------------------------------------------ slow end to end
@pytest.mark.slow
def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "yolo_ext.viz", "assign", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--assigner" in out.stdout and "--view" in out.stdout and "random-init" in out.stdout


@pytest.mark.slow
def test_trained_checkpoint_heatmap_and_assign_with_predictions(tiny_data, tmp_path):
    from yolo_ext.config.paths import resolve_model_cfg
    from yolo_ext.engine.trainer import AnchorTrainer

    t = AnchorTrainer(overrides=dict(model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(tiny_data), epochs=1,
                                     batch=4, imgsz=64, device="cpu", project=str(tmp_path), name="t", workers=0, plots=False))
    t.train()
    img = next((Path(tiny_data).parent / "images" / "val").glob("*.jpg"))
    h = tmp_path / "h.png"
    main(["heatmap", "--weights", str(t.best), "--image", str(img), "--imgsz", "64", "--dpi", "40", "--out", str(h)])
    assert png_size(h)[1] == (round(4 * vh.PANEL_IN * 40), round((vh.PANEL_IN + vh.TOP_IN + vh.BOTTOM_IN) * 40))
    a = tmp_path / "a.png"
    main(["assign", "--assigner", "radius+dedup+ignore", "--set", "dedup_mode=iou", "--weights", str(t.best),
          "--image", str(img), "--imgsz", "64", "--dpi", "40", "--out", str(a)])
    assert png_size(a)[0] == "PNG"


def test_grid_lines_only_where_cells_are_legible():
    from matplotlib.collections import LineCollection

    t = [target(3.3, 4.7, 10, 14)]
    r = va.assignment_cells(make_head(), "yolov5", t, 64)
    img = np.zeros((64, 64, 3), np.uint8)

    def grids(dpi):  # P3 cells: 8 / 64 * 0.92 * 4.6 in * dpi screen pixels
        fig = va.draw_assignment(img, t, r, view=None, dpi=dpi)
        return [sum(isinstance(c, LineCollection) for c in ax.collections) for ax in fig.axes[:3]]

    assert grids(150) == [2, 2, 2]
    assert grids(6) == [0, 2, 2]  # P3 cells 3.2 px: no grid; P4 6.3 px and P5 12.7 px keep theirs
