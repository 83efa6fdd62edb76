#!/bin/sh
# schema-names.sh PLUGIN_DIR SCHEMA_DIR
#
# The schema files of what the plugin's C files declare: SCHEMA_DIR/NAME.yaml
# for each stage (struct rp_stage_def X = {"NAME", ...}) and
# SCHEMA_DIR/KIND.NAME.yaml for each component (RP_COMPONENT(RP_COMP_KIND,
# "NAME", ...)), for those files that exist. tests/unit/test_schemas_embedded.c
# checks that every registered stage and component got its schema this way.
set -eu
dir=$1
sdir=$2
{
    cat "$dir"/*.c | tr '\n' ' ' |
        grep -o 'struct rp_stage_def [A-Za-z_0-9]* *= *{ *"[^"]*"' |
        sed 's/.*"\([^"]*\)"$/\1/' || true
    cat "$dir"/*.c | tr '\n' ' ' |
        grep -o 'RP_COMPONENT( *RP_COMP_[A-Z_]* *, *"[^"]*"' |
        sed 's/RP_COMPONENT( *RP_COMP_\([A-Z_]*\) *, *"\([^"]*\)"/\1 \2/' |
        while read -r kind name; do
            echo "$(echo "$kind" | tr 'A-Z' 'a-z').$name"
        done || true
} | sort -u | while read -r n; do
    if [ -f "$sdir/$n.yaml" ]; then echo "$sdir/$n.yaml"; fi
done
