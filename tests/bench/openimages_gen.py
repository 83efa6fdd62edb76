#!/usr/bin/python3
"""Generate an Open-Images-like set for `make bench`: N photos of 1024x768
(smooth backgrounds with shapes, saved as JPEG quality 90 like Flickr
originals), 1-6 boxes each over nine classes, in the real formats: the V6/V7
box CSV and class-descriptions-boxable.csv. Usage: openimages_gen.py DIR N"""
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter

CLASSES = [("/m/01g317", "Person"), ("/m/04yx4", "Man"), ("/m/03bt1vf", "Woman"),
           ("/m/0bt9lr", "Dog"), ("/m/01yrx", "Cat"), ("/m/015p6", "Bird"),
           ("/m/0k4j", "Car"), ("/m/01mzpv", "Chair"), ("/m/04dr76w", "Bottle"),
           ("/m/02p0tk3", "Human body")]


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    rng = random.Random(2024)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    with open(os.path.join(out, "class-descriptions-boxable.csv"), "w") as f:
        for mid, name in CLASSES:
            f.write(f"{mid},{name}\n")
    rows = []
    base = Image.linear_gradient("L").resize((1024, 768))
    for i in range(n):
        iid = "%016x" % rng.getrandbits(64)
        tint = tuple(rng.randrange(256) for _ in range(3))
        im = Image.merge("RGB", [base.point(lambda v, t=t: (v + t) % 256) for t in tint])
        d = ImageDraw.Draw(im)
        for _ in range(25):
            x, y = rng.randrange(1024), rng.randrange(768)
            w, h = rng.randrange(20, 400), rng.randrange(20, 300)
            col = tuple(rng.randrange(256) for _ in range(3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=col)
        im = im.filter(ImageFilter.GaussianBlur(1.5))
        im.save(os.path.join(out, "images", iid + ".jpg"), quality=90)
        for _ in range(rng.randint(1, 6)):
            x0, y0 = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
            x1, y1 = min(1.0, x0 + rng.uniform(0.05, 0.6)), min(1.0, y0 + rng.uniform(0.05, 0.6))
            mid = CLASSES[rng.randrange(len(CLASSES))][0]
            grp = 1 if rng.random() < 0.05 else 0
            rows.append(f"{iid},xclick,{mid},1,{x0:.6f},{x1:.6f},{y0:.6f},{y1:.6f},"
                        f"0,0,{grp},0,0,-1,-1,-1,-1,-1,-1,-1,-1\n")
    rng.shuffle(rows)  # the real file is sorted by ImageID; the reader must not rely on it
    with open(os.path.join(out, "oidv6-train-annotations-bbox.csv"), "w") as f:
        f.write("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,"
                "IsTruncated,IsGroupOf,IsDepiction,IsInside,XClick1X,XClick2X,XClick3X,"
                "XClick4X,XClick1Y,XClick2Y,XClick3Y,XClick4Y\n")
        f.writelines(rows)


if __name__ == "__main__":
    main()
