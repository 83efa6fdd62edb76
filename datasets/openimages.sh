#!/bin/sh
# Open Images V7 boxes (S4): the box annotations + class names, and the images
# of the chosen classes (downloaded by ImageID with the official
# downloader.py from the Open Images site). Usage:
#   datasets/openimages.sh [dir] [max_images_per_class]
# Classes: Person /m/01g317, Dog /m/0bt9lr, Cat /m/01yrx, Car /m/0k4j
# (edit CLASSES). Files are fetched from storage.googleapis.com; there are no
# published checksums for the CSVs, so their sizes are checked instead.
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/openimages}
per=${2:-1000}
CLASSES="/m/01g317 /m/0bt9lr /m/01yrx /m/0k4j"
mkdir -p "$dir/images"
b=https://storage.googleapis.com/openimages
fetch "$b/v7/oidv7-class-descriptions-boxable.csv" "$dir/class-descriptions-boxable.csv"
fetch "$b/v6/oidv6-train-annotations-bbox.csv" "$dir/oidv6-train-annotations-bbox.csv"
fetch https://raw.githubusercontent.com/openimages/dataset/master/downloader.py "$dir/downloader.py"
[ "$(wc -l < "$dir/class-descriptions-boxable.csv")" -ge 600 ] || { echo "error: class list truncated" >&2; exit 1; }
list="$dir/image_list.txt"
: > "$list"
for c in $CLASSES; do
    grep ",$c," "$dir/oidv6-train-annotations-bbox.csv" | cut -d, -f1 | sort -u | head -n "$per" |
        sed 's|^|train/|' >> "$list"
done
sort -u -o "$list" "$list"
python3 "$dir/downloader.py" "$list" --download_folder="$dir/images" --num_processes=4
echo "Open Images subset in $dir: $(ls "$dir/images" | wc -l) images"
