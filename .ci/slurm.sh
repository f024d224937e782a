#!/usr/bin/env bash
# Single-node Slurm (Debian's slurm-wlm + munge) for CI and for trying `bias-sweep launch slurm`
# on one machine. Needs root (it writes /etc/slurm/slurm.conf and starts daemons; no systemd).
#
#   .ci/slurm.sh start    install if missing, start munged/slurmctld/slurmd, wait for an idle node
#   .ci/slurm.sh stop     cancel jobs and stop the daemons *this script* started (by PID)
#   .ci/slurm.sh status   print what is running
#
# Idempotent: `start` on a running cluster only checks it; `stop` with nothing started is a no-op.
# Daemons found running but not started by this script are left alone by `stop`.
set -euo pipefail

STATE_DIR=${BIAS_SWEEP_SLURM_STATE:-/var/tmp/bias-sweep-slurm} # pid files of what we started
CONF=/etc/slurm/slurm.conf
MARK="# written by bias-sweep .ci/slurm.sh"
PARTITION=${BIAS_SWEEP_SLURM_PARTITION:-debug}
START_TIMEOUT=${BIAS_SWEEP_SLURM_TIMEOUT:-60}

log() { echo "slurm.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_root() { [[ $(id -u) -eq 0 ]] || die "needs root (writes $CONF, starts daemons)"; }

install() {
	if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
		return
	fi
	log "installing slurm-wlm and munge"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq slurm-wlm munge >/dev/null
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
	if munge_ok; then return; fi
	if [[ ! -s /etc/munge/munge.key ]]; then
		dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
	fi
	chown munge:munge /etc/munge/munge.key
	chmod 400 /etc/munge/munge.key
	mkdir -p /run/munge /var/log/munge /var/lib/munge
	chown munge:munge /run/munge /var/log/munge /var/lib/munge
	# munged refuses to run as root; --force accepts the container's loose directory permissions.
	if id munge >/dev/null 2>&1; then
		runuser -u munge -- munged --force
	else
		munged --force
	fi
	for _ in $(seq 50); do
		munge_ok && break
		sleep 0.1
	done
	munge_ok || die "munged did not start (see /var/log/munge/munged.log)"
	cp /run/munge/munged.pid "$STATE_DIR/munged.pid"
}

write_conf() {
	if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
		log "keeping existing $CONF (not written by this script)"
		return
	fi
	local host cpus mem_mb
	host=$(hostname -s)
	cpus=$(nproc)
	# RealMemory must not exceed what slurmd sees, or the node is drained as "Low RealMemory".
	mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
	mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
	local tmp
	tmp=$(mktemp)
	cat >"$tmp" <<EOF
$MARK
ClusterName=biassweep
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
# Batch jobs may be requeued (after node failure, or scontrol requeue on preemption).
JobRequeue=1
MinJobAge=300
KillWait=20
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
	if ! cmp -s "$tmp" "$CONF"; then
		mv "$tmp" "$CONF"
		chmod 644 "$CONF"
		CONF_CHANGED=1
	else
		rm -f "$tmp"
	fi
}

ctld_ok() { scontrol ping 2>/dev/null | grep -q "UP"; }
slurmd_running() { [[ -f $STATE_DIR/slurmd.pid ]] && kill -0 "$(cat "$STATE_DIR/slurmd.pid")" 2>/dev/null; }

wait_idle() {
	local deadline=$((SECONDS + START_TIMEOUT)) state=""
	while ((SECONDS < deadline)); do
		state=$(sinfo -h -N -o "%T" 2>/dev/null | head -1 || true)
		case $state in
		idle | mixed | allocated | completing) return 0 ;;
		down* | drain* | drained*)
			# A node that was down when slurmctld restarted stays down until resumed.
			scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true
			;;
		esac
		sleep 1
	done
	die "node not idle after ${START_TIMEOUT}s (state '${state}'); see /var/log/slurm/"
}

start() {
	need_root
	mkdir -p "$STATE_DIR"
	install
	start_munge
	write_conf
	if ! ctld_ok; then
		slurmctld -i # -i: ignore (missing/stale) saved state rather than refusing to start
		for _ in $(seq 100); do
			ctld_ok && break
			sleep 0.2
		done
		ctld_ok || die "slurmctld did not answer (see /var/log/slurm/slurmctld.log)"
		touch "$STATE_DIR/slurmctld.ours"
	elif [[ -n ${CONF_CHANGED:-} ]]; then
		log "slurm.conf changed: scontrol reconfigure"
		scontrol reconfigure
	fi
	if ! slurmd_running && ! pgrep -x slurmd >/dev/null; then
		slurmd
		touch "$STATE_DIR/slurmd.ours"
	fi
	wait_idle
	log "up: $(sinfo -h -o '%P %D %T' | tr '\n' ' ')"
}

# Kill the daemon whose pid file is in STATE_DIR, and wait for it to go.
stop_pid() {
	local name=$1 pidfile=$STATE_DIR/$1.pid
	[[ -f $pidfile ]] || return 0
	local pid
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		log "stopped $name ($pid)"
	fi
	rm -f "$pidfile"
}

stop() {
	[[ -d $STATE_DIR ]] || return 0
	if [[ -f $STATE_DIR/slurmctld.ours ]] && ctld_ok; then
		# Jobs would otherwise keep running (slurmstepd survives slurmd) with no controller.
		scancel --full --quiet "--partition=$PARTITION" 2>/dev/null || true
		sleep 1
	fi
	[[ -f $STATE_DIR/slurmd.ours ]] && stop_pid slurmd
	[[ -f $STATE_DIR/slurmctld.ours ]] && stop_pid slurmctld
	stop_pid munged
	rm -f "$STATE_DIR/slurmd.ours" "$STATE_DIR/slurmctld.ours"
}

status() {
	munge_ok && echo "munge: ok" || echo "munge: not running"
	ctld_ok && echo "slurmctld: up" || echo "slurmctld: down"
	sinfo 2>/dev/null || true
	squeue 2>/dev/null || true
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
