#!/usr/bin/env bash
# sshd's ForceCommand for `centreon`: exactly what a Centreon 19.04 central (centcore, as the user
# centreon) runs on a poller, nothing else. The whole command line must be one of these shapes
# (centcore.pm at 19.04.5; ../README.md, "The central's commands"):
#
#   scp -t /etc/centreon-engine/      scp -d -t /etc/centreon-engine/      (Export configuration:
#   scp -t /etc/centreon-broker/      scp -d -t /etc/centreon-broker/       the generated files)
#       the legacy scp protocol's sink, writing into the staging area (PUSH_DIR/engine, /broker),
#       never into the running configuration
#   sudo service centengine reload|restart|stop|start
#       config-push (root) verifies the staged tree and installs it (reload, restart, start), then
#       acts on the engine under supervisord; a tree that does not verify changes nothing and the
#       reason goes to stderr (centcore logs it). No sudo runs: the words are the central's.
#   echo '<lines>' >> /var/lib/centreon-engine/rw/centengine.cmd
#       external commands (acknowledgement, downtime, check now): every line `[epoch] NAME;args`,
#       no control characters, written to the engine's command pipe in one write, never blocking
#   cat "<cache_directory>/<config_name>-stats.json" > /tmp/.centreon-broker-stats.dat
#   scp -f /tmp/.centreon-broker-stats.dat
#       broker statistics: the module's statistics file copied aside, then fetched
#
# Anything else is refused with one line on stderr and exit 1.
set -Eeuo pipefail
export LC_ALL=C

inbox=${PUSH_DIR:-/var/spool/centreon-push}
results=${PUSH_RESULTS:-/run/pollerfleet-push}
wait_s=${PUSH_WAIT:-100} # centcore gives `service` 120 s
command_file=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd} # the central names it (tests: a FIFO of theirs)
stats_copy=/tmp/.centreon-broker-stats.dat
refuse() {
  printf 'poller-push: refused: %s\n' "$*" >&2
  exit 1
}

cmd=${SSH_ORIGINAL_COMMAND:-}
first=${cmd%%$'\n'*}
[ -n "$cmd" ] || refuse "no command (this account takes what a Centreon 19.04 central sends)"

# engine control: a request for config-push (root), then its verdict from a directory only root writes
control() {
  local action=$1 id verdict
  id="$(date +%s%N)-$$"
  : >"$inbox/.request-$action-$id"
  for ((i = 0; i < wait_s * 5; i++)); do
    if [ -f "$results/$id" ]; then
      verdict=$(head -c 2000 "$results/$id")
      if [[ "$verdict" == "OK "* ]]; then
        printf '%s\n' "${verdict#OK }"
        exit 0
      fi
      printf 'poller-push: %s\n' "$verdict" >&2
      exit 1
    fi
    sleep 0.2
  done
  rm -f "$inbox/.request-$action-$id"
  printf 'poller-push: %s: config-push gave no verdict within %s s\n' "$action" "$wait_s" >&2
  exit 1
}

# the legacy scp protocol's sink (-d: the target must be a directory, as for several files)
sink() {
  if [[ "$cmd" == "scp -d "* ]]; then
    exec scp -d -t "$1"
  fi
  exec scp -t "$1"
}

# external commands: the body of centcore's echo, ' escaped as '\''; a newline after every line
external_commands() {
  local body=$1 text line n=0
  local unescaped=${body//"'\\''"/}
  [[ "$unescaped" != *"'"* ]] || refuse "external commands: a quote outside '\\'' in the echo"
  text=${body//"'\\''"/"'"}
  text=${text%$'\n'}
  [ -n "$text" ] || refuse "external commands: no command line"
  local lines=()
  mapfile -t lines <<<"$text"
  for line in ${lines[@]+"${lines[@]}"}; do
    n=$((n + 1))
    [[ "$line" != *[[:cntrl:]]* ]] || refuse "external command line $n holds a control character"
    [[ "$line" =~ ^\[[0-9]{1,11}\]\ [A-Z][A-Z0-9_]*(\;.*)?$ ]] ||
      refuse "external command line $n is not '[epoch] NAME;args': ${line:0:80}"
  done
  [ "$n" -le 200 ] || refuse "external commands: $n lines (centcore sends at most 200)"
  # one write(2) of the whole text, after a non-blocking open (no engine reading the pipe: refused
  # at once; a FIFO without a reader would hold a blocking open forever), under an alarm
  printf '%s\n' ${lines[@]+"${lines[@]}"} | python3 -c '
import os, signal, stat, sys
path = sys.argv[1]
def late(*_):
    sys.exit("poller-push: refused: the engine did not take the commands within 10 s")
signal.signal(signal.SIGALRM, late)
data = sys.stdin.buffer.read()
try:
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
except OSError as exc:
    sys.exit("poller-push: refused: the engine does not read its command file %s (%s)" % (path, exc.strerror))
if not stat.S_ISFIFO(os.fstat(fd).st_mode):
    sys.exit("poller-push: refused: %s is not the engine'"'"'s command pipe" % path)
os.set_blocking(fd, True)
signal.alarm(10)
done = 0
while done < len(data):
    done += os.write(fd, data[done:])
' "$command_file"
}

case "$cmd" in
  "scp -t /etc/centreon-engine/" | "scp -t /etc/centreon-engine" | \
    "scp -d -t /etc/centreon-engine/" | "scp -d -t /etc/centreon-engine")
    sink "$inbox/engine/"
    ;;
  "scp -t /etc/centreon-broker/" | "scp -t /etc/centreon-broker" | \
    "scp -d -t /etc/centreon-broker/" | "scp -d -t /etc/centreon-broker")
    sink "$inbox/broker/"
    ;;
  "sudo service centengine reload" | "sudo service centengine restart" | \
    "sudo service centengine stop" | "sudo service centengine start")
    control "${cmd##* }"
    ;;
  "echo '"*"' >> $command_file")
    body=${cmd#"echo '"}
    external_commands "${body%"' >> $command_file"}"
    ;;
  "scp -f $stats_copy")
    exec scp -f "$stats_copy"
    ;;
  "cat \""*"\" > $stats_copy")
    # cache_directory is the module's (/var/lib/centreon-engine) or cbd's (/var/lib/centreon-broker);
    # centcore joins it and the name with a "/"
    [[ "$cmd" =~ ^cat\ \"(/var/lib/centreon-(engine|broker)/?/[A-Za-z0-9][A-Za-z0-9_.-]{0,100}-stats\.json)\"\ \> ]] ||
      refuse "broker statistics: not a statistics file of /var/lib/centreon-engine or /var/lib/centreon-broker"
    source=${BASH_REMATCH[1]}
    [ ! -L "$source" ] || refuse "broker statistics: $source is a link"
    # a fresh file of ours (noclobber: O_EXCL), never one someone else left or linked in /tmp;
    # the statistics file is the module's FIFO: wait for it 5 s at most
    rm -f "$stats_copy" 2>/dev/null || refuse "broker statistics: cannot replace $stats_copy"
    set -o noclobber
    timeout 5 cat -- "$source" >"$stats_copy" || refuse "broker statistics: cannot read $source"
    ;;
  *)
    refuse "'${first:0:80}' (this account takes what a Centreon 19.04 central sends: scp into /etc/centreon-engine/ or /etc/centreon-broker/, sudo service centengine reload|restart|stop|start, external commands, broker statistics)"
    ;;
esac
