#!/bin/sh
# Semantic segmentation of aerial imagery (Humans in the Loop / MBRSC, Dubai):
# 72 images in 8 tiles, masks colour-coded with 6 classes. Published on Kaggle
# (humansintheloop/semantic-segmentation-of-aerial-imagery, needs the kaggle
# CLI and an API token). The archive's SHA-256 is pinned after download.
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/dubai}
mkdir -p "$dir"
if ! command -v kaggle >/dev/null 2>&1; then
    echo "error: needs the kaggle CLI (pip install kaggle) and ~/.kaggle/kaggle.json" >&2
    exit 1
fi
[ -s "$dir/semantic-segmentation-of-aerial-imagery.zip" ] ||
    kaggle datasets download -d humansintheloop/semantic-segmentation-of-aerial-imagery -p "$dir"
if [ -n "${DUBAI_SHA256:-}" ]; then check_sha256 "$dir/semantic-segmentation-of-aerial-imagery.zip" "$DUBAI_SHA256"; fi
(cd "$dir" && unzip -q -o semantic-segmentation-of-aerial-imagery.zip)
n=$(find "$dir" -path '*images*' -name '*.jpg' | wc -l)
m=$(find "$dir" -path '*masks*' -name '*.png' | wc -l)
[ "$n" -eq "$m" ] || { echo "error: $n images but $m masks" >&2; exit 1; }
echo "Dubai set in $dir: $n image/mask pairs. Classes (palette, in order):"
echo "  Building #3C1098, Land #8429F6, Road #6EC1E4, Vegetation #FEDD3A, Water #E2A929, Unlabeled #9B9B9B"
