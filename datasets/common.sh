# Shared helpers for the download scripts (sourced). Each script downloads
# into datasets/<name>/ (or $1), verifies the published checksums, and
# unpacks. Needs curl or wget, sha256sum/md5sum, tar.
set -eu

fetch() { # url dest
    if [ -s "$2" ]; then echo "have $2"; return 0; fi
    echo "downloading $1"
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 3 -o "$2.part" "$1"
    else
        wget -O "$2.part" "$1"
    fi
    mv "$2.part" "$2"
}

check_md5() { # file md5
    got=$(md5sum "$1" | cut -d' ' -f1)
    if [ "$got" != "$2" ]; then
        echo "error: $1: md5 $got, expected $2 (corrupt or changed download; delete it and retry)" >&2
        exit 1
    fi
    echo "ok   $1 (md5)"
}

check_sha256() { # file sha256
    got=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$got" != "$2" ]; then
        echo "error: $1: sha256 $got, expected $2 (corrupt or changed download; delete it and retry)" >&2
        exit 1
    fi
    echo "ok   $1 (sha256)"
}
