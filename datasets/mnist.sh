#!/bin/sh
# MNIST (LeCun, Cortes & Burges). The original site is often unavailable; the
# files are mirrored by torchvision at ossci-datasets. MD5 sums as listed in
# torchvision.datasets.MNIST.resources.
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/mnist}
mkdir -p "$dir"
base=https://ossci-datasets.s3.amazonaws.com/mnist
while read -r f md5; do
    fetch "$base/$f" "$dir/$f"
    check_md5 "$dir/$f" "$md5"
done <<'LIST'
train-images-idx3-ubyte.gz f68b3c2dcbeaaa9fbdd348bbdeb94873
train-labels-idx1-ubyte.gz d53e105ee54ea40749a09fcbcd1e9432
t10k-images-idx3-ubyte.gz 9fb629c4189551a2d022fa330f9573f3
t10k-labels-idx1-ubyte.gz ec29112dd5afa0611ce80d1b7f02629c
LIST
echo "MNIST in $dir  (use: data.idx with {dir: $dir, names: mnist})"
