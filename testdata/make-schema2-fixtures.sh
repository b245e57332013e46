#!/bin/sh
# Makes testdata/replica-schema2.tgz and testdata/server-schema2.tgz (and the
# records each holds, as listed by that program: *.records.json) with the
# fieldforms and fieldformsd binaries built from commit e7db43b (schema 2).
# usage: make-schema2-fixtures.sh OLD_BIN_DIR OUT_DIR   (run from the repository root)
set -eu
OLD=$1; OUT=$2
W=$(mktemp -d)
FF="$OLD/fieldforms"; FD="$OLD/fieldformsd"
S="--config $W/config --data $W/data"
ADDR=127.0.0.1:47613
$FD init $S >/dev/null
$FD tenant add acme $S >/dev/null
$FD template add assets/templates/site-inspection.json --tenant acme $S >/dev/null
$FD template add assets/templates/water-point-inspection.json --tenant acme $S >/dev/null
$FD serve --addr $ADDR --rate -1 $S >"$W/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 2
code() { $FD enroll --tenant acme --user "$1" ${2:-} --server-url https://$ADDR $S; }
ann="--data $W/ann"; bob="--data $W/bob"
$FF $ann enroll "$(code ann)" --name ann >/dev/null
$FF $bob enroll "$(code bob)" --name bob >/dev/null
syncq() { i=0; while [ $i -lt 10 ]; do if $FF $1 sync --once >/dev/null 2>&1; then return 0; fi; i=$((i+1)); done; echo "sync never rested" >&2; return 1; }
# created, edited, submitted, with an attachment
r1=$($FF $ann record new --template site-inspection --json '{"site_code": "NW-0412", "inspector": "Ann", "workers_on_site": 12}')
$FF $ann record edit $r1 --json '{"workers_on_site": 14, "inspection_date": "2026-11-30"}' >/dev/null
printf 'a photo of a ladder' > "$W/ladder.jpg"
$FF $ann attach $r1 hazard_photos "$W/ladder.jpg" >/dev/null
$FF $ann record edit $r1 --json '{"hazards_present": false, "overall_rating": "pass", "follow_up_date": "2026-12-30", "location": {"lat": 51.5, "lon": -0.12}}' >/dev/null
printf '\211PNG\r\n\032\n a signature' > "$W/sig.png"
$FF $ann attach $r1 inspector_signature "$W/sig.png" >/dev/null
$FF $ann record edit $r1 --submit >/dev/null
# deleted
r2=$($FF $ann record new --template site-inspection --json '{"site_code": "SE-0001"}')
$FF $ann record delete $r2 >/dev/null
# deleted, then restored
r3=$($FF $ann record new --template site-inspection --json '{"site_code": "KE-0003"}')
$FF $ann record delete $r3 >/dev/null
$FF $ann record restore $r3 >/dev/null
# a repeat
r4=$($FF $ann record new --template water-point-inspection --json '{"point": {"asset_tag": "WP-17", "point_type": "borehole"}, "defects": [{"component": "pump", "severity": "3", "description": "leaks"}, {"component": "apron", "severity": "1", "description": "cracked"}]}' 2>"$W/r4.err") || { cat "$W/r4.err"; exit 1; }
# to be purged
r5=$($FF $ann record new --template site-inspection --json '{"site_code": "PU-0005"}')
# a template the server does not have: a dead letter
r6=$($FF $ann record new --template delivery-receipt --json '{"delivery_number": "DN00000006"}')
syncq "$ann" || true
syncq "$bob" || true
b1=$($FF $bob record new --template site-inspection --json '{"site_code": "BO-0001"}')
$FF $bob record edit $r1 --json '{"weather": "rain"}' >/dev/null || true
syncq "$bob" || true
for u in ada bea cy; do $FF --data "$W/$u" enroll "$(code $u --admin)" --name $u >/dev/null; done
req=$($FD purge request $r5 --tenant acme --user ada --reason "erasure request" $S | sed -n 's/.*purge request \([0-9a-f-]*\) recorded.*/\1/p')
$FD purge approve $req --tenant acme --user bea $S >/dev/null
$FD purge approve $req --tenant acme --user cy $S >/dev/null
syncq "$ann" || true
syncq "$bob" || true
# pending: made after the last sync
r7=$($FF $ann record new --template site-inspection --json '{"site_code": "PE-0007"}')
$FF $ann record edit $r3 --json '{"inspector": "Ann offline"}' >/dev/null
$FF $ann status
$FF $ann record list --all --json > "$OUT/replica-schema2.records.json"
$FF $bob record list --all --json > "$OUT/server-schema2.records.json"
kill $PID; wait $PID || true
trap - EXIT
( cd "$W/ann" && tar czf "$OUT/replica-schema2.tgz" --owner=0 --group=0 . )
( cd "$W" && tar czf "$OUT/server-schema2.tgz" --owner=0 --group=0 config data )
echo "r1=$r1 r2=$r2 r3=$r3 r4=$r4 r5=$r5 r6=$r6 r7=$r7 b1=$b1 port=$ADDR"
echo "work: $W"
