#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/<target>/corpus from the
repository's fixtures and small generated files (stdlib only). The committed
corpora are these seeds plus what fuzzing found, minimised with libFuzzer's
-merge=1 (files named by content hash):
    build-fuzz/fuzz/T -merge=1 NEW tests/fuzz/T/corpus build-fuzz/fuzz/T.corpus The
checkpoint seed comes from the target itself:
    build/tests/fuzz_checkpoint --gen tests/fuzz/checkpoint/corpus
Run from the source root: python3 tests/fuzz/make_seeds.py
(tests/fuzz/<target>/crashes/ holds inputs that crashed or aborted under ASan
before they were fixed, each with its pinned message in NAME.expect.)"""
import glob, gzip, io, os, shutil, struct, zlib

def out(target, name, data):
    d = f"tests/fuzz/{target}/corpus"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{name}", "wb") as f:
        f.write(data)

def rd(p):
    with open(p, "rb") as f:
        return f.read()

def gz(b):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(b)
    return buf.getvalue()

def png(w, h, ctype, rows, depth=8, plte=None):
    """rows: list of bytes per row (without filter byte)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows)
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte: s += chunk(b"PLTE", plte)
    return s + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

def bmp(w, h):
    row = (w * 3 + 3) & ~3
    pix = b"".join(bytes((x * 40 % 256, y * 60 % 256, 90)) * 1 for y in range(h) for x in range(w))
    body = b"".join(pix[y * w * 3:(y + 1) * w * 3] + b"\0" * (row - w * 3) for y in range(h))
    hdr = struct.pack("<2sIHHI", b"BM", 54 + len(body), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    return hdr + dib + body

# ---- pipeline: the shipped pipelines and every bad fixture
for p in sorted(glob.glob("pipelines/*.yaml") + glob.glob("tests/fixtures/bad/*.yaml") +
                glob.glob("tests/fixtures/config/*.yaml")):
    b = rd(p)
    if len(b) <= 16384:
        out("pipeline", os.path.basename(os.path.dirname(p)) + "_" + os.path.basename(p), b)

# ---- idx: 2-byte image length, image file, label file
def idx(n, r, c, labels=None, hdr_n=None):
    img = struct.pack(">IIII", 0x803, hdr_n or n, r, c) + bytes((i * 7) % 256 for i in range(n * r * c))
    lab = struct.pack(">II", 0x801, hdr_n or n) + bytes(labels or [i % 10 for i in range(n)])
    return img, lab
for name, (img, lab) in {"raw3": idx(3, 4, 4), "one1x1": idx(1, 1, 1)}.items():
    out("idx", name, struct.pack("<H", len(img)) + img + lab)
img, lab = idx(3, 4, 4)
gi, gl = gz(img), gz(lab)
out("idx", "gzip3", struct.pack("<H", len(gi)) + gi + gl)
img, lab = rd("datasets/fixtures/mnist/t10k-images-idx3-ubyte"), rd("datasets/fixtures/mnist/t10k-labels-idx1-ubyte")
out("idx", "mnist_t10k", struct.pack("<H", len(img)) + img + lab)

# ---- cifar
out("cifar", "batch1", rd("datasets/fixtures/cifar-10-batches-bin/data_batch_1.bin"))
out("cifar", "c100_train", rd(glob.glob("datasets/fixtures/cifar-100-binary/train.bin")[0]))
out("cifar", "batch1_gz", gz(rd("datasets/fixtures/cifar-10-batches-bin/data_batch_1.bin")))
out("cifar", "one_record", bytes([3]) + bytes(range(256)) * 12)

# ---- csv (images img/a.png and img/b.jpg exist in the harness's root)
csvs = {
    "names": "path,label\nimg/a.png,cat\nimg/b.jpg,dog\n",
    "ids": "path,label\nimg/a.png,0\nimg/b.jpg,2\n",
    "domains_split": "path,label,domain,split\nimg/a.png,cat,photo,train\nimg/b.jpg,dog,sketch,train\nimg/a.png,7,photo,test\n",
    "quoted": 'path,label\n"img/a.png","c,a\n""t"""\nimg/b.jpg,dog\n',
    "outside": "path,label\n../img/a.png,cat\n/etc/passwd,dog\n",
    "blank": "path,label\n\nimg/a.png,cat\n,\n",
}
for k, v in csvs.items():
    out("csv", k + ".csv", v.encode())
out("csv", "nul.csv", b"path,label\nimg/a.png\0x,cat\n")

# ---- segmentation: 6x4 masks
out("segmentation", "index.png", png(6, 4, 0, [bytes((x + y) % 3 for x in range(6)) for y in range(4)]))
pal = [b"\0\0\0", b"\xff\0\0", b"\0\xff\0"]
out("segmentation", "palette_rgb.png", png(6, 4, 2, [b"".join(pal[(x * y) % 3] for x in range(6)) for y in range(4)]))
out("segmentation", "palette_indexed.png", png(6, 4, 3, [bytes((x + 2 * y) % 3 for x in range(6)) for y in range(4)], plte=b"".join(pal)))
out("segmentation", "wrong_size.png", png(5, 5, 0, [bytes(5)] * 5))
out("segmentation", "rgb_index.png", png(6, 4, 2, [bytes([1, 1, 1] * 6)] * 4))

# ---- image
out("image", "rgb.png", png(5, 3, 2, [bytes(range(y * 15, y * 15 + 15)) for y in range(3)]))
out("image", "grey16.png", png(3, 2, 0, [bytes(6)] * 2, depth=16))
out("image", "rgba.png", png(2, 2, 6, [bytes(8)] * 2))
out("image", "grey1bit.png", png(9, 2, 0, [b"\xaa\x80"] * 2, depth=1))
out("image", "small.bmp", bmp(3, 2))
out("image", "corrupt.png", rd("tests/fixtures/data/corrupt.png"))
out("image", "truncated.jpg", rd("tests/fixtures/data/truncated.jpg"))
out("image", "photo.jpg", rd("datasets/fixtures/pacs/photo/dog/pic_014.jpg"))
for p in sorted(glob.glob("datasets/fixtures/folder/train/circle/*.png"))[:1]:
    out("image", "circle.png", rd(p))

# ---- safetensors
def st(tensors, meta=None):
    hdr, data = {}, b""
    if meta: hdr["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    import json
    h = json.dumps(hdr).encode()
    return struct.pack("<Q", len(h)) + h + data
arch = ("input: [1, 2, 2]\nnodes:\n  - {name: flatten, type: flatten}\n"
        "  - {name: fc, type: linear, in: [flatten], opts: {out: 2}}\noutput: fc\n")
out("safetensors", "plain", st({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), "n": ("I64", [], struct.pack("<q", 7))}))
out("safetensors", "f16_bf16", st({"h": ("F16", [2], b"\x00\x3c\x00\xc0"), "b": ("BF16", [1], b"\x80\x3f")}))
out("safetensors", "model", st({"fc.weight": ("F32", [2, 4], bytes(32)), "fc.bias": ("F32", [2], bytes(8))},
                               {"runpipe.arch": arch, "runpipe.version": "0.1.0", "format": "pt"}))

# ---- pth: the committed torch.save files (small ones)
for p in sorted(glob.glob("tests/golden/data/pth/*.pth")):
    if os.path.getsize(p) <= 65536:
        out("pth", os.path.basename(p), rd(p))

# ---- openimages
out("openimages", "descriptions.csv", rd("datasets/fixtures/openimages/class-descriptions-boxable.csv"))
out("openimages", "boxes.csv", rd("datasets/fixtures/openimages/oidv6-train-annotations-bbox.csv"))
out("openimages", "manifest.csv",
    b"file,image_id,box,group,x0,x1,y0,y1\ntrain/animal/000a1249af2bc5f0_0.jpg,000a1249af2bc5f0,0,animal,0.1,0.5,0.2,0.6\n"
    b"train/../../etc/passwd,000a1249af2bc5f0,1,animal,0.1,0.5,0.2,0.6\n")
