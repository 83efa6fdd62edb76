#!/bin/sh
# torchvision's ImageNet checkpoints for `pretrained:` (S4: ResNet-18, and
# ResNet-50 in the matrix variant). runpipe reads these .pth files as they
# are (engine/nn/pth.c: the zip torch.save writes, unpickled as data only),
# so nothing needs Python or a conversion. Usage:
#   datasets/pretrained.sh [dir] [arch ...]     (default: datasets/pretrained resnet18 resnet50)
#
# Where the files come from: torchvision.models.resnet*(weights="IMAGENET1K_V1")
# (the old `pretrained=True`) downloads
#   https://download.pytorch.org/models/resnet18-f37072fd.pth   (46.8 MB, 69.758 % top-1)
#   https://download.pytorch.org/models/resnet34-b627a593.pth   (87.3 MB, 73.314 %)
#   https://download.pytorch.org/models/resnet50-0676ba61.pth   (102.5 MB, 76.130 %)
# into ~/.cache/torch/hub/checkpoints/; a file already there is used instead
# of downloading. (ResNet-50's IMAGENET1K_V2 weights are resnet50-11ad3fa6.pth;
# put its name in FILES to use them.)
#
# How they are checked: torchvision publishes no separate checksum list; the
# hex digits after the last '-' of each file name are the first digits of the
# file's SHA-256 (torch.hub.download_url_to_file(check_hash=True) checks
# exactly this). The script compares them, e.g. by hand:
#   sha256sum resnet18-f37072fd.pth | cut -c1-8     # must print f37072fd
# and links <arch>.pth to the file, the name the S4 pipeline uses
# ("${vars.weights}/${matrix.arch}.pth").
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/pretrained}
[ $# -gt 0 ] && shift
archs=${*:-resnet18 resnet50}
FILES="resnet18-f37072fd.pth resnet34-b627a593.pth resnet50-0676ba61.pth"
cache=${TORCH_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/torch}/hub/checkpoints
mkdir -p "$dir"
for arch in $archs; do
    file=
    for f in $FILES; do
        case "$f" in "$arch"-*) file=$f ;; esac
    done
    if [ -z "$file" ]; then
        echo "error: no torchvision checkpoint listed for '$arch' (known: $FILES)" >&2
        exit 1
    fi
    if [ ! -s "$dir/$file" ] && [ -s "$cache/$file" ]; then
        echo "using $cache/$file"
        cp "$cache/$file" "$dir/$file"
    fi
    fetch "https://download.pytorch.org/models/$file" "$dir/$file"
    prefix=${file##*-}
    prefix=${prefix%.pth}
    got=$(sha256sum "$dir/$file" | cut -c1-${#prefix})
    if [ "$got" != "$prefix" ]; then
        echo "error: $dir/$file: sha256 starts with $got, the name says $prefix (corrupt download; delete it and retry)" >&2
        exit 1
    fi
    echo "ok   $dir/$file (sha256 prefix $prefix)"
    ln -sf "$file" "$dir/$arch.pth"
done
echo "pretrained weights in $dir: $(cd "$dir" && ls ./*.pth | tr '\n' ' ')"
