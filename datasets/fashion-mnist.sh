#!/bin/sh
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017).
#   datasets/fashion-mnist.sh [dir]          download into dir (default datasets/fashion-mnist)
#   datasets/fashion-mnist.sh --verify DIR   check an existing copy, e.g. Debian's
#                                            /usr/share/datasets/fashion-mnist (data.idx's default)
# Downloads are checked against the MD5 sums published in
# github.com/zalandoresearch/fashion-mnist; every copy (Debian recompresses
# the .gz files) is checked by the SHA-256 of its uncompressed content.
. "$(dirname "$0")/common.sh"
content_check() { # dir
    while read -r f sha; do
        p="$1/$f.gz"
        [ -s "$p" ] || p="$1/$f"
        [ -s "$p" ] || { echo "error: $1/$f(.gz) missing" >&2; exit 1; }
        got=$(if [ "${p%.gz}" != "$p" ]; then gzip -dc "$p"; else cat "$p"; fi | sha256sum | cut -d' ' -f1)
        [ "$got" = "$sha" ] || { echo "error: $p: content sha256 $got, expected $sha" >&2; exit 1; }
        echo "ok   $p (content sha256)"
    done <<'LIST'
train-images-idx3-ubyte c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
train-labels-idx1-ubyte bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
t10k-images-idx3-ubyte 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
t10k-labels-idx1-ubyte 0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
LIST
}
if [ "${1:-}" = "--verify" ]; then
    content_check "${2:-/usr/share/datasets/fashion-mnist}"
    exit 0
fi
dir=${1:-$(dirname "$0")/fashion-mnist}
mkdir -p "$dir"
base=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
while read -r f md5; do
    fetch "$base/$f" "$dir/$f"
    check_md5 "$dir/$f" "$md5"
done <<'LIST'
train-images-idx3-ubyte.gz 8d4fb7e6c68d591d4c3dfef9ec88bf0d
train-labels-idx1-ubyte.gz 25c81989df183df01b3e8a0aad5dffbe
t10k-images-idx3-ubyte.gz bef4ecab320f06d8554ea6380940ec79
t10k-labels-idx1-ubyte.gz bb300cfdad3c16e7a12a480ee83cd310
LIST
content_check "$dir"
echo "Fashion-MNIST in $dir  (use: data.idx with {dir: $dir})"
