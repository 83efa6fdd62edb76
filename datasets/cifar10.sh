#!/bin/sh
# CIFAR-10, binary version (Krizhevsky 2009), MD5 as published on
# https://www.cs.toronto.edu/~kriz/cifar.html
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")}
mkdir -p "$dir"
f=cifar-10-binary.tar.gz
fetch https://www.cs.toronto.edu/~kriz/$f "$dir/$f"
check_md5 "$dir/$f" c32a1d4ab5d03f1284b67883e8d87530
tar -xzf "$dir/$f" -C "$dir"
echo "CIFAR-10 in $dir/cifar-10-batches-bin  (data.cifar10's default dir)"
