#!/bin/sh
# Runs the kubelet once kubeadm has written its configuration (at the
# first boot, while `kubeadm init` or `join` runs; at later boots it is
# on the persistent disk already), with the flags kubeadm's systemd
# drop-in would give it. svcd restarts it if it exits.
conf=/var/lib/kubelet/config.yaml
flags=/var/lib/kubelet/kubeadm-flags.env
if [ ! -s "$conf" ] || [ ! -s "$flags" ]; then
	echo "kubelet: waiting for kubeadm to write $conf and $flags"
	while [ ! -s "$conf" ] || [ ! -s "$flags" ]; do sleep 1; done
fi
KUBELET_KUBEADM_ARGS=
. "$flags"
# shellcheck disable=SC2086 # the flags are words, as in kubeadm's drop-in
exec kubelet \
	--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
	--kubeconfig=/etc/kubernetes/kubelet.conf \
	--config="$conf" \
	$KUBELET_KUBEADM_ARGS
