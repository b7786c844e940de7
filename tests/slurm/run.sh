#!/usr/bin/env bash
# A real scheduler for a planned sweep: starts a one-node Slurm cluster on
# this machine (munged, slurmctld, slurmd; Debian's slurm-wlm and munge),
# plans a small sweep with `cnnc compare --plan`, submits its slurm.sbatch
# with `sbatch --wait`, collects it with `cnnc compare --collect` and
# checks the report: every variant finished, with its numbers. Then a
# search, `cnnc search --plan`, each rung an array job collected by
# `cnnc search --collect`, must give the in-process search's numbers. Cleans up
# what it started (daemons, state) however it ends. Skips, saying why,
# where the packages cannot be installed or the daemons cannot start.
#
# usage: tests/slurm/run.sh [PATH/TO/cnnc]   (default target/debug/cnnc)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
cnnc=$(realpath "${1:-target/debug/cnnc}")
started=$(date +%s)

skip() {
  echo "slurm test: skipped: $*"
  exit 0
}
fail() {
  echo "slurm test: FAILED: $*" >&2
  for log in "${state:-/nonexistent}"/*.log "${state:-/nonexistent}"/sweep/logs/*.out; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

[ -x "$cnnc" ] || fail "no cnnc binary at $cnnc (build it first)"
[ "$(id -u)" -eq 0 ] || skip "needs root to start munged and slurmd"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  lock=""
  command -v flock >/dev/null && lock="flock /tmp/apt.lock"
  { $lock apt-get update -qq &&
    $lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >/dev/null 2>&1 ||
    skip "could not install slurm-wlm and munge with apt-get"
fi

state=$(mktemp -d /tmp/cnnc-slurm.XXXXXX)
chmod 755 "$state"
pids=()
munged_pid=""
cleanup() {
  set +e
  SLURM_CONF="$state/slurm.conf" scancel --quiet --name=cnnc-sweep 2>/dev/null
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  [ -n "$munged_pid" ] && kill "$munged_pid" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT

# munge: Slurm's authentication. Debian's package made the key; munged runs
# as its own user, with its socket directory made first (no systemd here).
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  if [ ! -f /etc/munge/munge.key ]; then
    mkdir -p /etc/munge && chown munge:munge /etc/munge && chmod 700 /etc/munge
    (umask 077 && head -c 1024 /dev/urandom >/etc/munge/munge.key)
    chown munge:munge /etc/munge/munge.key
  fi
  runuser -u munge -- /usr/sbin/munged || skip "munged would not start"
  munged_pid=$(cat /run/munge/munged.pid 2>/dev/null || pgrep -x -u munge munged | head -n 1)
fi
munge -n | unmunge >/dev/null || skip "munge does not authenticate (munged not working here)"

# One node, this machine, as slurmd sees it; no accounting, no cgroups.
host=$(hostname -s)
node=$(slurmd -C | head -n 1)
mkdir -p "$state/spool" "$state/ctld"
cat >"$state/slurm.conf" <<EOF
ClusterName=cnnctest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$state/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$state/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$state/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  node_state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1 || true)
  [ "$node_state" = idle ] && break
  sleep 1
done
[ "${node_state:-}" = idle ] || fail "the node did not come up (state: ${node_state:-none})"

# A small sweep: 2 widths x 2 augmentations, 64 training digits, 1 epoch.
# No GPU here: --slurm-gpus 0 asks Slurm for none (the adapter is lavapipe).
printf 'param width = 2\ninput 28x28x1\nconv width 3x3 relu\npool 2\ndense 10 softmax\n' >"$state/tiny.cnn"
"$cnnc" compare "$state/tiny.cnn" --set width=2,3 --augment none --augment shift:1 \
  --data "mnist:$repo/data/mnist" --limit 64 --val-limit 32 --batch 16 --epochs 1 \
  --plan "$state/sweep" --slurm-gpus 0 >/dev/null || fail "cnnc compare --plan"
grep -q '^#SBATCH --array=0-3$' "$state/sweep/slurm.sbatch" || fail "slurm.sbatch has no --array=0-3"

timeout 300 sbatch --wait --quiet "$state/sweep/slurm.sbatch" || fail "the array job failed or timed out"
for task in 0 1 2 3; do
  [ -f "$state/sweep/logs/$task.out" ] || fail "array task $task left no log"
done

"$cnnc" compare --collect "$state/sweep" >"$state/collect.out" 2>&1 || fail "collect: $(cat "$state/collect.out")"
python3 - "$state/sweep/report.json" <<'EOF' || fail "the report is not as expected"
import json, sys
report = json.load(open(sys.argv[1]))
rows = report["rows"]
assert len(rows) == 4, f"{len(rows)} rows"
for row in rows:
    assert row["status"] == "finished" and row["error"] is None, row["name"]
    assert row["params"] > 0 and row["flops_per_image"] > 0, row["name"]
    assert 0.0 <= row["final_val_accuracy"] <= 1.0, row["name"]
    assert len(row["epochs"]) == 1 and row["train_images_per_s"] > 0, row["name"]
print("slurm test: report:", ", ".join(f'{r["name"]} {100 * r["final_val_accuracy"]:.1f}%' for r in rows))
EOF
# A search: 4 widths, rungs of 4 x 1 and 1 x 3 epochs, each an array job.
search_args=("$state/tiny.cnn" --param width=1..4 --data "mnist:$repo/data/mnist" --limit 64 --val-limit 32
  --batch 16 --max-epochs 3)
"$cnnc" search "${search_args[@]}" --plan "$state/search" --slurm-gpus 0 >/dev/null || fail "cnnc search --plan"
rungs=0
while [ -e "$state/search/slurm.sbatch" ]; do
  [ "$rungs" -lt 4 ] || fail "the search does not end"
  timeout 300 sbatch --wait --quiet "$state/search/slurm.sbatch" || fail "rung $((rungs + 1))'s array job failed"
  "$cnnc" search --collect "$state/search" >"$state/collect.out" 2>&1 || fail "search collect: $(cat "$state/collect.out")"
  rungs=$((rungs + 1))
done
[ "$rungs" -eq 2 ] || fail "the search ran $rungs rungs, not 2"
[ -f "$state/search/logs/rung2-0.out" ] || fail "rung 2's array task left no log"
"$cnnc" search "${search_args[@]}" --out "$state/here" >/dev/null 2>&1 || fail "the in-process search"
python3 - "$state/search/report.json" "$state/here/report.json" <<'EOF' || fail "the planned search's report is not the in-process one's"
import json, sys
def untimed(path):
    report = json.load(open(path))
    for row in report["rows"]:
        for key in ("train_seconds", "train_images_per_s", "seconds_per_epoch"):
            row.pop(key)
        row["front"].pop("time")
        for epoch in row["epochs"]:
            epoch.pop("seconds"), epoch.pop("images_per_s")
    return report
slurm, here = untimed(sys.argv[1]), untimed(sys.argv[2])
assert slurm["done"] and slurm["best"] is not None, slurm["best"]
assert slurm == here, "the reports differ"
print("slurm test: search:", slurm["best"]["name"], f'{100 * slurm["best"]["val_accuracy"]:.1f}%,',
      slurm["spent"]["epochs"], "of", slurm["spent"]["grid_epochs"], "epochs")
EOF
echo "slurm test: passed: a sweep's 4 array tasks and a search's 2 rungs ran under slurmctld/slurmd, collected and checked, in $(($(date +%s) - started)) s"
