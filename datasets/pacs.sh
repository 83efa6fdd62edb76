#!/bin/sh
# PACS (Li, Yang, Song & Hospedales, ICCV 2017): 4 domains (art_painting,
# cartoon, photo, sketch) x 7 classes, 9,991 images. The authors distribute it
# from Google Drive; this fetches the archive DomainBed's download script uses
# (facebookresearch/DomainBed, domainbed/scripts/download.py). Drive files
# have no published checksum: set PACS_SHA256 to pin the archive you trust.
# Checks the 4 x 7 layout and writes pacs.csv (path,label,domain) for data.csv.
. "$(dirname "$0")/common.sh"
dir=${1:-$(dirname "$0")/pacs}
mkdir -p "$dir"
f=PACS.zip
# DomainBed (facebookresearch/DomainBed, domainbed/scripts/download.py):
# gdown id 1JFr8f805nMUelQWWmfnJR3y4_SYoN5Pd
url="https://drive.google.com/uc?export=download&id=1JFr8f805nMUelQWWmfnJR3y4_SYoN5Pd"
fetch "$url" "$dir/$f"
if [ -n "${PACS_SHA256:-}" ]; then check_sha256 "$dir/$f" "$PACS_SHA256"; fi
(cd "$dir" && unzip -q -o "$f")
root=$dir/kfold
[ -d "$root" ] || root=$dir/PACS
# every image must be readable and the 7 x 4 layout complete
n=0
printf 'path,label,domain\n' > "$dir/pacs.csv"
for d in art_painting cartoon photo sketch; do
    for c in dog elephant giraffe guitar horse house person; do
        [ -d "$root/$d/$c" ] || { echo "error: $root/$d/$c missing" >&2; exit 1; }
        for img in "$root/$d/$c"/*; do
            printf '%s,%s,%s\n' "${img#$dir/}" "$c" "$d" >> "$dir/pacs.csv"
            n=$((n + 1))
        done
    done
done
[ "$n" -eq 9991 ] || echo "warning: $n images (the published PACS has 9991)" >&2
echo "PACS in $dir: $n images; use data.csv with {file: $dir/pacs.csv, domain_column: domain}"
