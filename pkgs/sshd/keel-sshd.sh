#!/bin/sh
# Starts OpenSSH's sshd in the foreground for svcd, after what Debian's
# package scripts would have done: the privilege separation directory and
# the host keys.
set -eu
umask 022

# Privilege separation: the pre-authentication process is chrooted here.
# sshd requires it owned by root and not writable by anyone else.
mkdir -p /run/sshd
chmod 0755 /run/sshd

# The login records sshd writes for a session with a terminal; without
# them it complains into the session ("Couldn't stat /var/log/lastlog").
mkdir -p /var/log
for f in /run/utmp /var/log/wtmp /var/log/lastlog; do
  [ -e "$f" ] || : > "$f"
done

# Host keys, first found wins:
#  1. given by the metadata agent (/run/config/ssh/ssh_host_*_key), copied
#     so their mode is 0600 whatever the metadata said;
#  2. already in /etc/ssh (a spec binds key files there);
#  3. generated at the first start into /var/lib/sshd, which persists when
#     /var is a disk (pkgs/mount), else lives as long as the boot.
dir=""
for k in /run/config/ssh/ssh_host_*_key; do
  [ -f "$k" ] || continue
  umask 077
  cp "$k" /etc/ssh/
  [ -f "$k.pub" ] && cp "$k.pub" /etc/ssh/
  chmod 0600 "/etc/ssh/${k##*/}"
  umask 022
  dir=/etc/ssh
done
if [ -z "$dir" ]; then
  for k in /etc/ssh/ssh_host_*_key; do
    [ -f "$k" ] && dir=/etc/ssh
  done
fi
if [ -z "$dir" ]; then
  dir=/var/lib/sshd
  mkdir -p "$dir" 2>/dev/null || dir=/etc/ssh
  chmod 0700 "$dir"
  for t in ed25519 ecdsa rsa; do
    if [ ! -f "$dir/ssh_host_${t}_key" ]; then
      echo "keel-sshd: generating the $t host key in $dir"
      /usr/bin/ssh-keygen -q -t "$t" -N "" -C "root@$(hostname)" -f "$dir/ssh_host_${t}_key"
    fi
  done
fi

set --
for k in "$dir"/ssh_host_*_key; do
  [ -f "$k" ] && set -- "$@" -h "$k"
done
# -D: stay in the foreground, svcd supervises it; -e: log to stderr, which
# svcd keeps (svcctl logs sshd).
exec /usr/sbin/sshd -D -e "$@"
