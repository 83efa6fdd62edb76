#!/usr/bin/python3
"""The openimages.crop stage written the way an S4 user would in Python with
Pillow, for `make bench`: same inputs, same filters (classes -> groups,
exclude IsGroupOf/IsDepiction, min_size), same per-box work (decode each
photo once, crop floor/ceil pixel box, corner-pixel median background,
resize longer side to SIZE with BOX when shrinking / BILINEAR when growing,
paste at a random position, JPEG quality 95) and a manifest.
Usage: openimages_pil.py DATA OUT SIZE MIN_SIZE PROCESSES"""
import csv
import math
import os
import random
import sys
from multiprocessing import Pool

from PIL import Image

GROUPS = {"person": ["Person", "Man", "Woman"], "animal": ["Dog", "Cat", "Bird"],
          "object": ["Car", "Chair", "Bottle"]}


def median2(a, b):
    return (a + b + 1) // 2


def crop_image(job):
    data, out, size, min_size, iid, boxes, split = job
    im = Image.open(os.path.join(data, "images", iid + ".jpg")).convert("RGB")
    w, h = im.size
    rows = []
    for n, group, x0, x1, y0, y1 in boxes:
        l, r = math.floor(x0 * w), min(w, math.ceil(x1 * w))
        t, b = math.floor(y0 * h), min(h, math.ceil(y1 * h))
        bw, bh = r - l, b - t
        if bw < min_size or bh < min_size:
            continue
        c = im.crop((l, t, r, b))
        corners = [c.getpixel(p) for p in ((0, 0), (bw - 1, 0), (0, bh - 1), (bw - 1, bh - 1))]
        bg = tuple(median2(*sorted(v[k] for v in corners)[1:3]) for k in range(3))
        ratio = min(size / bw, size / bh)
        rw, rh = max(1, min(size, round(bw * ratio))), max(1, min(size, round(bh * ratio)))
        c = c.resize((rw, rh), Image.BOX if rw < bw else Image.BILINEAR)
        canvas = Image.new("RGB", (size, size), bg)
        rnd = random.Random(f"{iid}_{n}")
        px, py = rnd.randint(0, size - rw), rnd.randint(0, size - rh)
        canvas.paste(c, (px, py))
        rel = f"{split}/{group}/{iid}_{n}.jpg"
        canvas.save(os.path.join(out, rel), quality=95)
        rows.append(f"{rel},{iid},{n},{l},{t},{bw},{bh},{px},{py}\n")
    return rows


def main():
    data, out, size, min_size, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    names = {}
    with open(os.path.join(data, "class-descriptions-boxable.csv"), newline="") as f:
        for mid, name in csv.reader(f):
            names[name] = mid
    mid_group = {names[c]: g for g, cs in GROUPS.items() for c in cs}
    per_image = {}
    with open(os.path.join(data, "oidv6-train-annotations-bbox.csv"), newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            g = mid_group.get(row["LabelName"])
            if g is None:
                continue
            per_image.setdefault(row["ImageID"], []).append(
                (line, g, float(row["XMin"]), float(row["XMax"]), float(row["YMin"]),
                 float(row["YMax"]), row["IsGroupOf"] == "1" or row["IsDepiction"] == "1"))
    ids = sorted(per_image)
    rnd = random.Random(1)
    order = ids[:]
    rnd.shuffle(order)
    val = set(order[:round(0.2 * len(order))])
    for s in ("train", "val"):
        for g in GROUPS:
            os.makedirs(os.path.join(out, s, g), exist_ok=True)
    jobs = []
    for iid in ids:
        boxes = []
        for n, (line, g, x0, x1, y0, y1, excluded) in enumerate(sorted(per_image[iid])):
            if not excluded:
                boxes.append((n, g, x0, x1, y0, y1))
        jobs.append((data, out, size, min_size, iid, boxes, "val" if iid in val else "train"))
    if procs > 1:
        with Pool(procs) as p:
            rows = [r for rs in p.imap(crop_image, jobs, chunksize=4) for r in rs]
    else:
        rows = [r for j in jobs for r in crop_image(j)]
    with open(os.path.join(out, "manifest.csv"), "w") as f:
        f.writelines(sorted(rows))
    print(len(rows))


if __name__ == "__main__":
    main()
