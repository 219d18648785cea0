#!/bin/sh
# kubeadm.sh init|join: makes this machine a Kubernetes node from the
# cluster identity in /run/config/kubernetes (written by Keel's metadata
# agent from userdata; see docs/kubernetes.md for every key).
#
# Every boot: the node's address and routes on the cluster network, the
# sysctls, and the CNI configuration (a bridge with this node's pod
# subnet) in /run/cni/net.d. First boot only (no /etc/kubernetes/kubelet.conf
# on the persistent disk yet): `kubeadm init` (control plane) or `kubeadm
# join` (worker). The kubelet's service (kubelet.sh) starts the kubelet
# as soon as kubeadm has written its configuration.
set -u
md=/run/config/kubernetes
role=${1:-}
say() { echo "kubeadm.sh: $*" >&2; }
fail() { say "$*"; echo "KUBEADM-FAIL $*" >&2; exit 1; }
# get KEY: the value of /run/config/kubernetes/KEY without its last newline,
# empty if absent.
get() { [ -f "$md/$1" ] && cat "$md/$1" || true; }
need() {
	v=$(get "$1")
	[ -n "$v" ] || fail "$md/$1 is missing: give it in the userdata (see docs/kubernetes.md)"
	echo "$v"
}

case "$role" in
init | join) ;;
*) fail "usage: kubeadm.sh init|join" ;;
esac
[ -d "$md" ] || fail "$md is missing: the node's userdata must have a \"kubernetes\" tree (see docs/kubernetes.md)"
node_ip=$(need node-ip) || exit 1
pod_cidr=$(need pod-cidr) || exit 1

# The cluster network: an address to configure where no DHCP gives one
# (a QEMU segment), and routes to the other nodes' pod subnets.
iface=$(get interface)
iface=${iface:-eth1}
addr=$(get address)
if [ -n "$addr" ]; then
	ip link set "$iface" up || fail "cannot bring up $iface"
	ip addr show dev "$iface" | grep -q "inet ${addr%/*}/" ||
		ip addr add "$addr" dev "$iface" || fail "cannot add $addr to $iface"
fi
get routes | while read -r r; do
	[ -n "$r" ] || continue
	# shellcheck disable=SC2086 # a route is words: SUBNET via ADDRESS
	ip route replace $r || say "route $r: failed"
done

# Forwarding between pods and the cluster network, and bridged pod traffic
# through the netfilter hooks kube-proxy's rules live in (br_netfilter is
# in the spec's etc/modules; pkgs/sysctl sets the same at boot).
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables || fail "br_netfilter is not loaded: add it to etc/modules"

# One bridge per node, its pods numbered from pod-cidr by host-local; the
# routes above carry the other nodes' pods. The bridge masquerades what
# pods send beyond this node's pod-cidr (ipMasq): their way out of the
# cluster, whose routers know nothing of pod addresses (other nodes' pods
# see the node's address too). portmap, chained after it, forwards
# hostPorts to their pods (CRI hands it the pods' portMappings). Both run
# iptables on the host (containerd runs the plugins there): pkgs/iptables
# in the spec's init:, checked here through PID 1's root, since without it
# every pod would fail to start. pkgs/cri-containerd's drop-in in the
# spec points CRI at /run/cni/net.d (the root is read-only).
[ -e /proc/1/root/usr/sbin/iptables ] ||
	fail "the root has no /usr/sbin/iptables, which the CNI plugins run for ipMasq and hostPort: add @pkg:../pkgs/iptables to the spec's init: (see docs/kubernetes.md)"
mkdir -p /run/cni/net.d
cat >/run/cni/net.d/10-keel.conflist <<CNI
{
  "cniVersion": "1.0.0",
  "name": "keel",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true}
    }
  ]
}
CNI

print_kubeconfig() {
	[ "$(get print-kubeconfig)" = true ] || return 0
	echo "KUBECONFIG-BEGIN"
	base64 /etc/kubernetes/admin.conf
	echo "KUBECONFIG-END"
}

if [ -s /etc/kubernetes/kubelet.conf ]; then
	say "this node is in its cluster already (/etc/kubernetes on the disk); nothing to do"
	[ "$role" = init ] && print_kubeconfig
	echo "KUBEADM-OK $role $(hostname) already"
	svcctl list
	exit 0
fi

token=$(need token) || exit 1
cri=unix:///run/containerd/containerd.sock
# Generous timeouts: under emulation (QEMU without KVM) the control plane
# takes many minutes to come up, and a worker may boot before it.
timeouts="timeouts:
  controlPlaneComponentHealthCheck: 40m
  kubeletHealthCheck: 40m
  kubernetesAPICall: 10m
  etcdAPICall: 10m
  tlsBootstrap: 40m
  discovery: 60m"
# SystemVerification fails only for the kernel's configuration, which it
# looks for in /proc/config.gz (after `modprobe configs`), /boot or
# /lib/modules: a Keel root carries none of them (Debian's kernel has no
# configs module, its config file stays in the kernel package). Its other
# checks (the cgroup v2 controllers) pass, and the kubelet checks the
# cgroups itself when it starts. Every other check runs.
ignore="ignorePreflightErrors: [SystemVerification]"
cfg=/run/kubeadm.yaml
if [ "$role" = init ]; then
	if [ -s "$md/ca.crt" ] && [ -s "$md/ca.key" ]; then
		# The cluster's CA from the userdata: workers can be given its hash
		# before this node exists. kubeadm uses a CA it finds.
		mkdir -p /etc/kubernetes/pki
		cp "$md/ca.crt" /etc/kubernetes/pki/ca.crt
		cp "$md/ca.key" /etc/kubernetes/pki/ca.key
		chmod 600 /etc/kubernetes/pki/ca.key
	fi
	cat >"$cfg" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: "$token"
    ttl: 24h0m0s
localAPIEndpoint:
  advertiseAddress: $node_ip
  bindPort: 6443
nodeRegistration:
  criSocket: $cri
  kubeletExtraArgs:
    - name: node-ip
      value: $node_ip
  $ignore
$timeouts
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
etcd:
  local:
    # pkgs/kubernetes/etcd is v3.7.3, where kubeadm v1.37.2 names 3.7.0.
    imageTag: 3.7.3-0
apiServer:
  # Reached from elsewhere through a forwarded port (keel run qemu
  # --publish) as well as at the node's address.
  certSANs: [127.0.0.1, localhost, $node_ip]
# One control plane: no leader to elect. With leader election, a
# controller manager or scheduler that cannot renew its lease in time (a
# busy emulated machine) exits, and the CSRs of joining kubelets wait.
controllerManager:
  extraArgs:
    - name: leader-elect
      value: "false"
scheduler:
  extraArgs:
    - name: leader-elect
      value: "false"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Keel has no systemd: cgroups are made by path on the cgroup v2 tree
# (pkgs/cri-containerd's runc has SystemdCgroup = false).
cgroupDriver: cgroupfs
containerRuntimeEndpoint: $cri
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
# NodePorts on every address of a node, the user-mode NIC a forwarded
# port reaches included (the default is the node's primary address).
nodePortAddresses: [0.0.0.0/0]
YAML
	say "kubeadm init, advertising $node_ip"
	kubeadm init --config "$cfg" || fail "kubeadm init failed"
	print_kubeconfig
else
	cp_addr=$(need control-plane) || exit 1
	hash=$(need ca-cert-hash) || exit 1
	cat >"$cfg" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "$cp_addr"
    token: "$token"
    caCertHashes: ["$hash"]
nodeRegistration:
  criSocket: $cri
  kubeletExtraArgs:
    - name: node-ip
      value: $node_ip
  $ignore
$timeouts
YAML
	# The kubelet watches it for static pods (none on a worker).
	mkdir -p /etc/kubernetes/manifests
	say "kubeadm join $cp_addr"
	kubeadm join --config "$cfg" || fail "kubeadm join failed"
fi
echo "KUBEADM-OK $role $(hostname)"
svcctl list
