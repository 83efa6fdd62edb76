#!/bin/sh
# Open Images V7 boxes for S4 (pipelines/s4-crop.yaml, s4-openimages.yaml):
# the box annotations, the class names, and the photos that hold boxes of the
# chosen classes. Usage:
#   datasets/openimages.sh [dir] [max_photos_per_class]
# Writes the layout openimages.crop reads (vars.data in the pipelines):
#   dir/class-descriptions-boxable.csv     MID,DisplayName (no header; V7 list)
#   dir/oidv6-train-annotations-bbox.csv   train boxes, ~2.3 GB (V7 reuses V6's boxes)
#   dir/images/<ImageID>.jpg               the photos, from the official
#                                          downloader.py (needs `pip install boto3`)
#   dir/image_list.txt                     train/<ImageID> lines given to it
# CLASSES lists the display names of the pipelines' groups (person: Person Man
# Woman, animal: Dog Cat Bird, object: Car Chair Bottle); edit both together.
# The paper used about 62,000 photos; the default 7,000 per class gives about
# that many after overlaps. There are no published checksums for the CSVs, so
# their sizes and line counts are checked instead.
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/openimages}
per=${2:-7000}
CLASSES="Person Man Woman Dog Cat Bird Car Chair Bottle"
mkdir -p "$dir/images"
b=https://storage.googleapis.com/openimages
fetch "$b/v7/oidv7-class-descriptions-boxable.csv" "$dir/class-descriptions-boxable.csv"
fetch "$b/v6/oidv6-train-annotations-bbox.csv" "$dir/oidv6-train-annotations-bbox.csv"
fetch https://raw.githubusercontent.com/openimages/dataset/master/downloader.py "$dir/downloader.py"
[ "$(wc -l < "$dir/class-descriptions-boxable.csv")" -ge 600 ] ||
    { echo "error: $dir/class-descriptions-boxable.csv: fewer than 600 classes (truncated?)" >&2; exit 1; }
[ "$(wc -c < "$dir/oidv6-train-annotations-bbox.csv")" -gt 2000000000 ] ||
    { echo "error: $dir/oidv6-train-annotations-bbox.csv: smaller than 2 GB (truncated?)" >&2; exit 1; }
list="$dir/image_list.txt"
: > "$list"
for name in $CLASSES; do
    mid=$(awk -F, -v n="$name" '$2 == n { print $1; exit }' "$dir/class-descriptions-boxable.csv")
    [ -n "$mid" ] || { echo "error: class '$name' not in the descriptions" >&2; exit 1; }
    # IsGroupOf (column 11) and IsDepiction (12) boxes are excluded by the stage anyway
    awk -F, -v m="$mid" '$3 == m && $11 == 0 && $12 == 0 { print $1 }' \
        "$dir/oidv6-train-annotations-bbox.csv" | uniq | head -n "$per" | sed 's|^|train/|' >> "$list"
    echo "$name ($mid): $(grep -c . "$list") photo ids so far"
done
sort -u -o "$list" "$list"
python3 "$dir/downloader.py" "$list" --download_folder="$dir/images" --num_processes=4
echo "Open Images subset in $dir: $(ls "$dir/images" | wc -l) photos; run"
echo "  runpipe pipelines/s4-crop.yaml --set vars.data=$dir"
