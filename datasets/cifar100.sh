#!/bin/sh
# CIFAR-100, binary version (Krizhevsky 2009), MD5 as published on
# https://www.cs.toronto.edu/~kriz/cifar.html
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")}
mkdir -p "$dir"
f=cifar-100-binary.tar.gz
fetch https://www.cs.toronto.edu/~kriz/$f "$dir/$f"
check_md5 "$dir/$f" 03b5dce01913d631647c71ecec9e9cb8
tar -xzf "$dir/$f" -C "$dir"
echo "CIFAR-100 in $dir/cifar-100-binary  (data.cifar100's default dir)"
