#!/usr/bin/env bash
# Screenshots of the real app under Xvfb, for the README: `make screenshots`.
#
# Usage: tools/screenshots.sh BIN OUTDIR
#
# Fills a fresh replica with sample forms through the headless commands of BIN
# (the fieldforms binary), then for each size starts Xvfb, runs BIN on that
# replica, drives it with xdotool and takes the screen with ImageMagick's
# `import -window root` (Fyne's own Canvas().Capture() comes out transparent
# under Xvfb). Every process it starts is stopped by its PID.
set -euo pipefail

bin=$(realpath "$1")
out=$(realpath "$2")
tmp=$(mktemp -d)
data=$tmp/replica
pids=()

stop() { # stop PID: TERM, then KILL after 5 s
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	for pid in "${pids[@]}"; do stop "$pid"; done
	rm -rf "$tmp"
}
trap cleanup EXIT

ff() { "$bin" --data "$data" "$@"; }

# --- Sample data: every template, drafts and submitted forms, attachments,
# an edit (for the history) and a deleted form.
echo "screenshots: filling a replica in $data" >&2
# (Shapes only: ImageMagick may have no fonts here.)
convert -size 800x600 plasma:tan-sienna -blur 0x1 -fill '#5d4037' -draw 'polygon 0,420 800,360 800,600 0,600' \
	-fill '#ffb300' -draw 'rectangle 520,300 560,420' "$tmp/trench.jpg"
convert -size 800x600 gradient:skyblue-darkolivegreen -fill '#8b5a2b' -draw 'rectangle 120,330 680,560' \
	-stroke '#ff6f00' -strokewidth 6 -draw 'line 120,330 680,330' -draw 'line 120,440 680,440' "$tmp/scaffold.jpg"
convert -size 480x160 xc:white -stroke '#1a237e' -strokewidth 4 -fill none \
	-draw 'bezier 30,110 90,10 150,150 210,70' -draw 'bezier 210,70 260,20 300,140 350,60' \
	-draw 'line 360,120 450,110' "$tmp/signature.png"
printf '%%PDF-1.4\n%% sample packing slip\n' > "$tmp/packing-slip.pdf"

si=$(ff record new --template site-inspection --author "Ana Lima" --json '{
  "site_code": "NW-0412", "inspector": "Ana Lima", "inspection_date": "2026-03-02", "arrival_time": "07:45",
  "location": {"lat": 51.5072, "lon": -0.1276, "accuracy": 8}, "weather": "cloudy", "workers_on_site": 14,
  "hazards_present": true, "hazards": ["fall", "excavation"], "overall_rating": "conditional",
  "corrective_actions": "Guard rails on the east scaffold; shore the north trench before work resumes."}')
ff attach --author "Ana Lima" "$si" hazard_photos "$tmp/trench.jpg" >/dev/null
ff attach --author "Ana Lima" "$si" hazard_photos "$tmp/scaffold.jpg" >/dev/null
ff attach --author "Ana Lima" "$si" inspector_signature "$tmp/signature.png" >/dev/null

si2=$(ff record new --template site-inspection --author "Ben Okafor" --json '{
  "site_code": "SE-1187", "inspector": "Ben Okafor", "inspection_date": "2026-03-01",
  "location": {"lat": 51.4545, "lon": -2.5879}, "hazards_present": false, "weather": "rain"}')

em=$(ff record new --template equipment-maintenance --author "Chen Wei" --json '{
  "asset_tag": "EQ-004211", "equipment_type": "generator", "service_type": "scheduled", "service_date": "2026-02-28",
  "started_at": "08:10", "finished_at": "10:35", "hours_meter": 1843.5, "tasks": ["oil", "air_filter", "battery"],
  "battery_voltage": 12.6, "fault_found": false, "status_after": "in_service", "next_service_due": "2026-08-28"}')
ff attach --author "Chen Wei" "$em" technician_signature "$tmp/signature.png" >/dev/null
ff record edit "$em" --author "Chen Wei" --submit >/dev/null

ir=$(ff record new --template incident-report --author "Dana Reyes" --json '{
  "occurred_at": "2026-02-27T14:20:00Z", "reported_by": "Dana Reyes", "incident_type": "near_miss", "severity": "medium",
  "description": "A pallet slid off the forklift forks while turning near gate B; nobody was in its path.",
  "location_description": "Gate B, loading yard", "contributing_factors": ["equipment", "housekeeping"]}')

dr=$(ff record new --template delivery-receipt --author "Eli Novak" --json '{
  "delivery_number": "DN00012345", "delivered_at": "2026-02-26T09:05:00Z", "supplier": "steelco",
  "recipient_name": "Eli Novak", "items_expected": 40, "items_received": 40, "condition": "good", "accepted": true}')
ff attach --author "Eli Novak" "$dr" packing_slip "$tmp/packing-slip.pdf" >/dev/null
ff attach --author "Eli Novak" "$dr" recipient_signature "$tmp/signature.png" >/dev/null
ff record edit "$dr" --author "Eli Novak" --submit >/dev/null

old=$(ff record new --template delivery-receipt --author "Eli Novak" --json '{
  "delivery_number": "DN00012290", "supplier": "northbuild", "recipient_name": "Eli Novak"}')
ff record delete "$old" --author "Eli Novak" >/dev/null
# The inspection is finished last, so it heads the list.
ff record edit "$si" --author "Ana Lima" --json '{"workers_on_site": 16}' --submit >/dev/null
: "$si2" "$ir"

# --- Shots.
# shot NAME WIDTH HEIGHT [STEP...]: the app in a WIDTHxHEIGHT screen; each STEP is
# `click X Y` (window coordinates), `scroll X Y CLICKS`, `key KEYS` or `wait SECONDS`.
shot() {
	local name=$1 w=$2 h=$3
	shift 3
	exec 3>"$tmp/display"
	Xvfb -displayfd 3 -screen 0 "${w}x${h}x24" -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
	local xvfb=$!
	pids+=("$xvfb")
	exec 3>&-
	for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
	local display=":$(cat "$tmp/display")"
	: >"$tmp/display"

	DISPLAY=$display "$bin" --data "$data" >"$tmp/app.log" 2>&1 &
	local app=$!
	pids+=("$app")
	local win
	if ! win=$(DISPLAY=$display timeout 60 xdotool search --sync --onlyvisible --name '^Fieldforms$' | head -1); then
		echo "screenshots: the app's window did not appear; its output:" >&2
		cat "$tmp/app.log" >&2
		exit 1
	fi
	DISPLAY=$display xdotool windowmove --sync "$win" 0 0 windowsize --sync "$win" "$w" "$h"
	sleep 2
	while [ $# -gt 0 ]; do
		case $1 in
		click) DISPLAY=$display xdotool mousemove --window "$win" "$2" "$3" click 1; shift 3 ;;
		key) DISPLAY=$display xdotool key --window "$win" "$2"; shift 2 ;;
		scroll) # scroll X Y CLICKS: the mouse wheel, down
			DISPLAY=$display xdotool mousemove --window "$win" "$2" "$3" click --repeat "$4" --delay 30 5; shift 4 ;;
		wait) sleep "$2"; shift 2 ;;
		*) echo "screenshots: unknown step $1" >&2; exit 1 ;;
		esac
	done
	sleep 1.5
	DISPLAY=$display import -window root "$out/$name.png"
	echo "screenshots: $out/$name.png" >&2
	stop "$app"
	stop "$xvfb"
	pids=()
}

mkdir -p "$out"
# The list and the newest form side by side (desktop); further down the same
# form, its photos (fetched when it opened) and its history; the Deleted filter
# with a deleted form, which Restore brings back.
shot desktop 1280 800 click 200 180 wait 2
shot desktop-history 1280 800 click 200 180 wait 2 scroll 900 500 90
shot desktop-deleted 1280 800 click 440 78 wait 1 click 140 218 wait 1 click 200 320 wait 2
# A tablet held sideways: the template picker beside the list; the settings.
shot tablet 1024 768 click 960 26 wait 1
shot tablet-settings 1024 768 click 855 26 wait 1
# Upright: one column, the list; then a form full screen, with Back.
shot tablet-portrait 768 1024
shot tablet-portrait-form 768 1024 click 200 180 wait 2
